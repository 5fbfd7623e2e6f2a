"""The admin's login form, throttled (common.throttle.login_failures)."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from common.throttle import client_ident, login_failures


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin's login form, refusing a user name from an address after
    OPSHEALTH_LOGIN_FAILURES failures until the window ends, right password or not."""

    def clean(self):
        key = f"{self.cleaned_data.get('username') or ''}|{client_ident(self.request)}"
        throttle = login_failures()
        if throttle.blocked(key):
            minutes = -(-throttle.wait_s() // 60)
            raise ValidationError(
                f"Too many failed logins for this user from your address: try again in {minutes} minute(s).",
                code="throttled",
            )
        try:
            return super().clean()
        except ValidationError:
            throttle.failed(key)
            raise
