// The checkout's address fields follow the country: choosing one swaps in that country's fields
// (from the <template>s the page carries, so no request) and keeps what was typed in the fields both
// countries have. Without this script the country's own form reloads the page instead.
(function () {
  "use strict";
  var select = document.querySelector("[data-country-select]");
  var fields = document.querySelector("[data-address-fields]");
  var hidden = document.querySelector("[data-country-field]");
  var status = document.querySelector("[data-address-status]");
  if (!select || !fields || !hidden) {
    return;
  }
  var update = document.querySelector("[data-country-update]");
  if (update) {
    update.hidden = true;
  }

  function keep(control, value) {
    if (control.tagName === "SELECT") {
      var known = Array.prototype.some.call(control.options, function (option) { return option.value === value; });
      if (known) {
        control.value = value;
      }
    } else {
      control.value = value;
    }
  }

  function swap() {
    var template = document.querySelector('template[data-address-template="' + select.value + '"]');
    if (!template) {
      return;
    }
    var typed = {};
    fields.querySelectorAll("input, select").forEach(function (control) {
      typed[control.name] = control.value;
    });
    var fresh = template.content.cloneNode(true);
    fresh.querySelectorAll("input, select").forEach(function (control) {
      if (typed[control.name]) {
        keep(control, typed[control.name]);
      }
    });
    fields.replaceChildren(fresh);
    fields.setAttribute("data-country", select.value);
    hidden.value = select.value;
    if (status) {
      var name = select.options[select.selectedIndex].text;
      status.textContent = "The address fields are now those for " + name + ".";
    }
  }

  select.addEventListener("change", swap);
  // Back/forward can restore the select's choice without the fields that go with it.
  if (select.value !== hidden.value) {
    swap();
  }
})();
