/* Optional enhancements; without JavaScript every form posts normally.

   1. Add to cart without leaving the page, in the manner of Shopify Dawn's cart notification: the
      header count updates, the button says "Added" for a moment, and a confirmation with "View cart"
      and "Check out" appears fixed in the viewport and takes the focus; Escape or "Close" puts the
      focus back on the button. A refused quantity shows its message at the quantity field.
   2. After a refused form, focus the error summary (the page also asks for it with autofocus).
   3. The quantity steppers (− number +): the buttons work; in the cart a changed quantity is saved
      at once (no reload: the line, the totals and the header count change, and a polite live
      region says so), as Dawn's cart does. Without JavaScript the number field and Update stay.
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

  /* Order times in the shopper's own time zone; the page's text (in UTC, so labelled) stays
     without JavaScript. */
  document.querySelectorAll("time[data-local-time]").forEach(function (time) {
    var when = new Date(time.getAttribute("datetime"));
    if (isNaN(when.getTime()) || !window.Intl) return;
    time.title = time.textContent;
    time.textContent = new Intl.DateTimeFormat(undefined, {
      day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    }).format(when);
  });

  if (!window.fetch || !window.FormData) return;

  var SAVE_AFTER_MS = 500;

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
    document.body.classList.remove("has-toast");
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
    // Its name is its visible word (axe: label-content-name-mismatch), in a column of its own.
    var close = element("button", "toast-close", "Close");
    close.type = "button";
    close.addEventListener("click", closeToast);
    box.appendChild(close);
    region.replaceChildren(box);
    returnFocusTo = button;
    box.focus({ preventScroll: true });
    keepInView(box, button);
  }

  /* Room below the page for the confirmation, and the pressed button and the next one (the next
     card's) scrolled out from under it. */
  function keepInView(box, button) {
    var height = box.getBoundingClientRect().height + 16;
    document.body.style.setProperty("--toast-space", height + "px");
    document.body.classList.add("has-toast");
    var top = box.getBoundingClientRect().top;
    var buttons = Array.prototype.slice.call(document.querySelectorAll('[data-testid="add-to-cart"]'));
    var next = buttons[buttons.indexOf(button) + 1];
    var lowest = 0;
    [button, next].forEach(function (each) {
      if (each) lowest = Math.max(lowest, each.getBoundingClientRect().bottom);
    });
    if (lowest > top - 8) window.scrollBy(0, lowest - top + 8);
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.querySelector("[data-toast-region] .toast")) closeToast();
  });
  // A tap or click outside the confirmation closes it (the focus stays where it went).
  document.addEventListener("pointerdown", function (event) {
    var box = document.querySelector("[data-toast-region] .toast");
    if (box && !box.contains(event.target)) {
      returnFocusTo = null;
      closeToast();
    }
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
    var anchor = input.closest("[data-stepper]") || input;
    anchor.parentNode.insertBefore(error, anchor);
    anchor.parentNode.classList.add("has-error");
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
    (input.closest("[data-stepper]") || input).parentNode.classList.remove("has-error");
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

  /* --- 3. steppers and the cart saved as it changes ------------------------------------------- */

  document.documentElement.classList.add("js-stepper");

  function stepperBounds(input) {
    // The stepper never goes below 1: taking a line out is Remove's job (with its Undo).
    return { low: Math.max(1, Number(input.min) || 1), high: Number(input.max) || 99 };
  }

  function refreshStepper(stepper) {
    var input = stepper.querySelector('input[type="number"]');
    var bounds = stepperBounds(input);
    var value = Number(input.value);
    stepper.querySelectorAll("[data-step]").forEach(function (button) {
      var step = Number(button.getAttribute("data-step"));
      // aria-disabled, not disabled: the button keeps its place in the Tab order and its contrast.
      button.setAttribute("aria-disabled", String(step < 0 ? !(value > bounds.low) : !(value < bounds.high)));
    });
  }

  document.querySelectorAll("[data-stepper]").forEach(function (stepper) {
    stepper.querySelectorAll("[data-step]").forEach(function (button) { button.hidden = false; });
    refreshStepper(stepper);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-stepper] [data-step]");
    if (!button || button.getAttribute("aria-disabled") === "true") return;
    var stepper = button.closest("[data-stepper]");
    var input = stepper.querySelector('input[type="number"]');
    var bounds = stepperBounds(input);
    var value = Math.round(Number(input.value)) || bounds.low;
    input.value = String(Math.min(bounds.high, Math.max(bounds.low, value + Number(button.getAttribute("data-step")))));
    refreshStepper(stepper);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });

  var pending = {};

  function cartInput(target) {
    return target.matches && target.matches('[data-cart-form] input[name="quantity"]') ? target : null;
  }

  document.addEventListener("input", function (event) {
    var input = cartInput(event.target);
    if (input) {
      var stepper = input.closest("[data-stepper]");
      if (stepper) refreshStepper(stepper);
      window.clearTimeout(pending[input.id]);
      pending[input.id] = window.setTimeout(function () { saveLine(input); }, SAVE_AFTER_MS);
    }
  });
  document.addEventListener("change", function (event) {
    var input = cartInput(event.target);
    if (input) saveLine(input);
  });

  // Update (or Enter) saves the line without a reload; Check out posts the form and goes on.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-cart-form]")) return;
    var submitter = event.submitter;
    if (submitter && submitter.name === "next") return;
    event.preventDefault();
    var line = submitter && submitter.name === "line"
      ? document.getElementById("line-" + submitter.value)
      : document.activeElement && document.activeElement.closest(".cart-line");
    var input = line && line.querySelector('input[name="quantity"]');
    if (input) saveLine(input);
  });

  function announce(text) {
    var status = document.querySelector("[data-cart-status]");
    if (status) status.textContent = text;
  }

  function saveLine(input) {
    window.clearTimeout(pending[input.id]);
    var line = input.closest(".cart-line");
    var form = input.form;
    if (!line || !form) return;
    var productId = line.getAttribute("data-product-id");
    var text = input.value.trim();
    if (text === line.getAttribute("data-quantity") && !line.classList.contains("has-error")) return;
    // Sent already (saved, refused, or on its way): the same value is not sent twice.
    if (line.getAttribute("data-sent") === text) return;
    line.setAttribute("data-sent", text);
    if (text === "0") {
      // 0 takes the line out: through Remove, whose page offers Undo.
      var remove = document.getElementById("remove-" + productId);
      if (remove) remove.submit();
      return;
    }
    var data = new FormData();
    data.set("product_id", productId);
    data.set("quantity", text);
    var token = form.querySelector('input[name="_xsrf"]');
    fetch("/cart/update", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json", "X-XSRFToken": token ? token.value : "" }
    })
      .then(function (response) {
        return response.json().then(function (answer) {
          if (!response.ok) {
            lineError(line, input, answer.error || "That did not work. Please try again.");
            announce(answer.error || "");
            return;
          }
          if (input.value.trim() !== text) return;  // changed again meanwhile: that save follows
          lineError(line, input, null);
          line.setAttribute("data-quantity", String(answer.quantity));
          var total = line.querySelector("[data-line-total]");
          if (total) total.textContent = answer.line_total;
          var totals = document.querySelector("[data-cart-totals]");
          if (totals) totals.innerHTML = answer.totals_html;
          showCount(answer.count);
          var name = line.querySelector(".line-name");
          var grand = totals && totals.querySelector('[data-testid="cart-total"]');
          announce("Saved: " + (name ? name.textContent : "") + ", quantity " + answer.quantity +
                   (grand ? ". Total " + grand.textContent : "") + ".");
        });
      })
      .catch(function () {
        line.removeAttribute("data-sent");  // not known to have arrived: pressing again retries
        lineError(line, input, "We could not reach the shop, so this quantity is not saved yet. Please try again.");
      });
  }

  /* The line's message at its quantity, as the server renders it (templates/_cart_line.html). */
  function lineError(line, input, text) {
    var old = document.getElementById(input.id + "-error");
    if (old) old.remove();
    line.classList.toggle("has-error", !!text);
    if (!text) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      return;
    }
    var error = element("p", "field-error");
    error.id = input.id + "-error";
    error.setAttribute("data-testid", "field-error");
    error.setAttribute("data-field", "quantity");
    error.appendChild(element("span", "visually-hidden", "Error: "));
    error.appendChild(document.createTextNode(text));
    var row = line.querySelector(".quantity-row");
    row.parentNode.insertBefore(error, row);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", error.id);
  }
})();
