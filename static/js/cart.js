/* Optional enhancements; without JavaScript every form posts normally.

   1. Add to cart without leaving the page, in the manner of Shopify Dawn's cart notification: the
      header count updates, the button says "Added" for a moment, and a confirmation with "View cart"
      and "Check out" appears fixed in the viewport and takes the focus; Escape or "Close" puts the
      focus back on the button. A refused quantity shows its message at the quantity field.
   2. After a refused form, focus the error summary (the page also asks for it with autofocus).
   Each add carries an Idempotency-Key header, kept on its button until the shop answers for sure,
   so pressing again after a 503 or a lost answer never adds twice. */
(function () {
  "use strict";

  var ADDED_FOR_MS = 2500;

  function focusErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary && document.activeElement !== summary) summary.focus();
  }
  // A link in the summary focuses its field (a plain #link would only scroll to it).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-error-summary] a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    var label = document.querySelector('label[for="' + field.id + '"]');
    (label || field).scrollIntoView({ block: "start" });
    field.focus({ preventScroll: true });
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusErrorSummary);
  } else {
    focusErrorSummary();
  }

  if (!window.fetch || !window.FormData) return;

  var returnFocusTo = null;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function link(href, text, className) {
    var node = element("a", className, text);
    node.href = href;
    return node;
  }

  function closeToast() {
    var region = document.querySelector("[data-toast-region]");
    if (region) region.replaceChildren();
    if (returnFocusTo && document.contains(returnFocusTo)) returnFocusTo.focus();
    returnFocusTo = null;
  }

  /* The confirmation (or the error), fixed in the viewport, focused. */
  function showToast(kind, text, note, count, button) {
    var region = document.querySelector("[data-toast-region]");
    if (!region) return;
    var box = element("div", "toast toast-" + kind);
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    box.setAttribute("data-testid", "cart-notification");
    box.setAttribute("tabindex", "-1");
    box.setAttribute("aria-labelledby", "toast-message");
    var message = element("p", "toast-message", text);
    message.id = "toast-message";
    message.setAttribute("data-testid", "flash");
    box.appendChild(message);
    if (note) box.appendChild(element("p", "toast-note", note));
    if (kind === "success") {
      var actions = element("p", "toast-actions");
      actions.appendChild(link("/cart", "View cart (" + count + ")", "button"));
      actions.appendChild(link("/checkout", "Check out", "button primary"));
      box.appendChild(actions);
    }
    var close = element("button", "toast-close");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    close.textContent = "×";
    close.addEventListener("click", closeToast);
    box.appendChild(close);
    region.replaceChildren(box);
    returnFocusTo = button;
    box.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.querySelector("[data-toast-region] .toast")) closeToast();
  });

  function showCount(count) {
    var badge = document.querySelector('[data-testid="cart-count"]');
    if (!badge) return;
    badge.textContent = String(count);
    badge.classList.remove("bumped");
    void badge.offsetWidth;  // restart the animation
    badge.classList.add("bumped");
  }

  function showAdded(button) {
    var label = button && button.querySelector(".button-label");
    if (!label) return;
    label.textContent = "Added ✓";
    button.classList.add("is-added");
    window.setTimeout(function () {
      label.textContent = "Add to cart";
      button.classList.remove("is-added");
    }, ADDED_FOR_MS);
  }

  /* A message at the form's quantity field (the product page), as the server would render it. */
  function showFieldError(form, text) {
    var input = form.querySelector('input[name="quantity"]:not([type="hidden"])');
    if (!input) return false;
    clearFieldError(form);
    var error = element("p", "field-error");
    error.id = input.id + "-error";
    error.setAttribute("data-testid", "field-error");
    error.setAttribute("data-field", "quantity");
    error.appendChild(element("span", "visually-hidden", "Error: "));
    error.appendChild(document.createTextNode(text));
    input.parentNode.insertBefore(error, input);
    input.parentNode.classList.add("has-error");
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", error.id);
    input.focus();
    return true;
  }

  function clearFieldError(form) {
    var input = form.querySelector('input[name="quantity"]:not([type="hidden"])');
    if (!input) return;
    var old = document.getElementById(input.id + "-error");
    if (old) old.remove();
    input.parentNode.classList.remove("has-error");
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }

  /* The one-time key of this button's next change: kept until the shop gives a definite answer. */
  function changeKey(button) {
    if (!button.dataset.idempotencyKey) {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      button.dataset.idempotencyKey = Array.prototype.map.call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
    }
    return button.dataset.idempotencyKey;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches('form[data-enhance="add-to-cart"]')) return;
    event.preventDefault();
    // Not disabled while waiting: a disabled button drops the keyboard focus to the page.
    var button = event.submitter || form.querySelector('[type="submit"]');
    if (button.getAttribute("aria-disabled") === "true") return;
    button.setAttribute("aria-disabled", "true");
    var data = new FormData(form);
    // The catalog's one form: the pressed button names the product.
    if (button.name) data.set(button.name, button.value);
    var token = form.querySelector('input[name="_xsrf"]');
    fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: {
        "X-Requested-With": "fetch",
        "Accept": "application/json",
        "X-XSRFToken": token ? token.value : "",
        "Idempotency-Key": changeKey(button)
      }
    })
      .then(function (response) {
        return response.json().then(function (answer) {
          // A 503 or a lost answer keeps the key: pressing again is a retry, applied at most once.
          if (response.status !== 503) delete button.dataset.idempotencyKey;
          if (response.ok) {
            clearFieldError(form);
            showCount(answer.count);
            showAdded(button);
            showToast("success", answer.message, answer.shipping_note, answer.count, button);
          } else {
            var text = answer.error || "That did not work. Please try again.";
            if (answer.field !== "quantity" || !showFieldError(form, text)) showToast("error", text, "", 0, button);
          }
        });
      })
      .catch(function () {
        // Not resubmitted as a plain post: the first request may have reached the shop already.
        showToast("error", "We could not reach the shop. Please check your connection and try again.", "", 0, button);
      })
      .finally(function () {
        button.removeAttribute("aria-disabled");
      });
  });
})();
