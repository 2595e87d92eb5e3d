/* Optional enhancement: add to the cart without leaving the page, and update the header count.
   Without JavaScript the form posts normally and lands on /cart. */
(function () {
  "use strict";
  if (!window.fetch || !window.FormData) return;

  function showMessage(text, kind) {
    var area = document.querySelector("[data-flash-area]");
    if (!area) return;
    var box = document.createElement("div");
    box.className = "flashes";
    box.setAttribute("data-testid", "flash");
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    var line = document.createElement("p");
    line.className = "flash flash-" + kind;
    line.textContent = text;
    box.appendChild(line);
    area.replaceChildren(box);
  }

  function showCount(count) {
    var badge = document.querySelector('[data-testid="cart-count"]');
    if (!badge) return;
    badge.textContent = String(count);
    badge.classList.remove("bumped");
    void badge.offsetWidth;  // restart the animation
    badge.classList.add("bumped");
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches('form[data-enhance="add-to-cart"]')) return;
    event.preventDefault();
    var button = form.querySelector('[type="submit"]');
    var token = form.querySelector('input[name="_xsrf"]');
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: {
        "X-Requested-With": "fetch",
        "Accept": "application/json",
        "X-XSRFToken": token ? token.value : ""
      }
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (response.ok) {
            showCount(data.count);
            showMessage(data.message, "success");
          } else {
            showMessage(data.error || "That did not work. Please try again.", "error");
          }
        });
      })
      .catch(function () {
        // Not resubmitted as a plain post: the first request may have reached the shop already.
        showMessage("We could not reach the shop. Please check your connection and try again.", "error");
      })
      .finally(function () {
        if (button) button.disabled = false;
      });
  });
})();
