// The two pages a mail's link opens: /verify-email and /reset-password. The token comes in the
// URL's fragment (#token=...), which no browser sends to a server; it is taken out of the
// address bar at once, so it stays out of the history, bookmarks and screenshots. No framework,
// no request to anyone but this API (the page's CSP allows nothing else).
"use strict";

(function () {
  var page = document.body.getAttribute("data-page");
  var status = document.getElementById("status");

  // The link's token, removed from the address bar; null when the link has none.
  function takeToken() {
    var fragment = window.location.hash.replace(/^#/, "");
    if (fragment) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    var token = new URLSearchParams(fragment).get("token");
    return token ? token : null;
  }

  // Shows `text` (and a list of `items`) in the status region: kind "ok", "error" or "info".
  function show(kind, text, items) {
    status.replaceChildren();
    status.setAttribute("data-kind", kind);
    var p = document.createElement("p");
    p.textContent = text;
    status.appendChild(p);
    if (items && items.length) {
      var list = document.createElement("ul");
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.textContent = item;
        list.appendChild(li);
      });
      status.appendChild(list);
    }
  }

  // POSTs `body` as JSON to `path` (relative, so a base path in front of the pages is kept):
  // the status and the answer's JSON ({} when it has none); status 0 when the network failed.
  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    }).then(
      function (response) {
        return response.json().then(
          function (data) { return { status: response.status, data: data || {} }; },
          function () { return { status: response.status, data: {} }; }
        );
      },
      function () { return { status: 0, data: {} }; }
    );
  }

  function unavailable(answer) {
    return answer.status === 0
      ? "The service could not be reached. Check your connection and try again."
      : "Something went wrong on our side (" + answer.status + "). Try again in a moment.";
  }

  function verifyEmail() {
    var retry = document.getElementById("retry");
    var token = takeToken();
    if (!token) {
      show("error", "This link is incomplete. Open the link from the mail again.");
      return;
    }
    function confirm() {
      retry.hidden = true;
      show("info", "Confirming your address…");
      post("email/verify", { token: token }).then(function (answer) {
        var error = answer.data.error;
        if (answer.status === 200) {
          var address = answer.data.email ? " " + answer.data.email : "";
          show("ok", "Your email address" + address + " is confirmed. You can close this page.");
        } else if (error === "invalid_token") {
          show("error", "This link is invalid, already used or expired. Ask for a new one from your account.");
        } else if (error === "email_taken") {
          show("error", "This address is already confirmed for another account.");
        } else if (answer.status === 429) {
          show("error", "Too many attempts. Wait a while, then try again.");
          retry.hidden = false;
        } else {
          show("error", unavailable(answer));
          retry.hidden = false;
        }
      });
    }
    retry.addEventListener("click", confirm);
    confirm();
  }

  function resetPassword() {
    var form = document.getElementById("reset-form");
    var password = document.getElementById("new-password");
    var again = document.getElementById("confirm-password");
    var submit = document.getElementById("submit");
    var token = takeToken();
    if (!token) {
      show("error", "This link is incomplete. Open the link from the mail again, or ask for a new one.");
      return;
    }
    form.hidden = false;
    password.focus();

    function invalid(field, text, items) {
      field.setAttribute("aria-invalid", "true");
      show("error", text, items);
      field.focus();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      password.removeAttribute("aria-invalid");
      again.removeAttribute("aria-invalid");
      if (!password.value) {
        invalid(password, "Enter a new password.");
        return;
      }
      if (password.value !== again.value) {
        invalid(again, "The two passwords do not match. Type the same password in both fields.");
        return;
      }
      submit.disabled = true;
      show("info", "Setting your new password…");
      post("password/reset", { token: token, new_password: password.value }).then(function (answer) {
        submit.disabled = false;
        var data = answer.data;
        if (answer.status === 200) {
          form.hidden = true;
          password.value = "";
          again.value = "";
          show("ok", "Your password has been reset and every session was signed out. Log in with your new password.");
        } else if (data.error === "validation_error" && data.details && data.details.new_password) {
          // The API's own messages ("must be at least 8 characters", ...), about the password.
          var reasons = data.details.new_password.map(function (m) { return "It " + m + "."; });
          invalid(password, "Choose another password.", reasons);
        } else if (data.error === "invalid_token") {
          form.hidden = true;
          show("error", "This link is invalid, already used or expired. Ask for a new reset link.");
        } else if (answer.status === 429) {
          show("error", "Too many attempts. Wait a while, then try again.");
        } else if (data.msg && answer.status >= 400 && answer.status < 500) {
          show("error", data.msg);
        } else {
          show("error", unavailable(answer));
        }
      });
    });
  }

  // A link opened in a tab that already shows this page changes only the fragment, which
  // loads nothing: load the page again, so that it starts from the new link.
  window.addEventListener("hashchange", function () {
    if (/(^#|&)token=/.test(window.location.hash)) {
      window.location.reload();
    }
  });

  if (page === "verify-email") {
    verifyEmail();
  } else if (page === "reset-password") {
    resetPassword();
  }
})();
