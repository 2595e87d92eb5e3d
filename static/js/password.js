// Password fields: a "Show password" control, and a live strength meter for a new password that
// asks the shop (/password-strength, the same rules as the server's check) as the person types.
// Without JavaScript the forms work as they are: the server judges the password on submit.
(function () {
  "use strict";

  function showPasswordControls() {
    document.querySelectorAll("[data-show-password]").forEach(function (box) {
      var input = document.getElementById(box.getAttribute("data-show-password"));
      if (!input) { return; }
      box.closest("[data-show-password-wrap]").hidden = false;
      box.addEventListener("change", function () {
        input.type = box.checked ? "text" : "password";
      });
    });
  }

  function strengthMeters() {
    document.querySelectorAll("[data-new-password]").forEach(function (field) {
      var input = field.querySelector("[data-password-input]");
      var output = field.querySelector("[data-password-strength]");
      var form = input.form;
      var token = form.querySelector('input[name="_xsrf"]');
      var username = form.querySelector('input[name="username"]');
      var timer = null;
      var asked = 0;
      input.addEventListener("input", function () {
        clearTimeout(timer);
        if (!input.value) { output.textContent = ""; return; }
        timer = setTimeout(function () {
          var number = ++asked;
          var body = new URLSearchParams({ password: input.value, username: username ? username.value : "" });
          fetch("/password-strength", {
            method: "POST",
            body: body,
            credentials: "same-origin",
            headers: { "X-XSRFToken": token ? token.value : "", "X-Requested-With": "fetch" }
          }).then(function (response) {
            return response.ok ? response.json() : null;
          }).then(function (verdict) {
            if (!verdict || number !== asked) { return; }  // an older answer arriving late
            var text = "Strength: " + verdict.words + ". ";
            text += verdict.problem ? verdict.problem : "Good: this password will do.";
            output.textContent = text;
            output.setAttribute("data-acceptable", verdict.acceptable ? "true" : "false");
          }).catch(function () { /* offline: the server checks on submit */ });
        }, 300);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showPasswordControls();
    strengthMeters();
  });
})();
