"""Amazon SES (v2 API) implementation of the ``Mailer`` port.

Sends the same RFC 5322 message the SMTP mailer sends (``shared.mail.to_message``) as raw
content, so custom headers (``X-Correlation-Id``, ``X-Event-Type``) survive on every runtime's
boto3. SES assigns its own Message-ID; deduplication is the dispatcher's idempotency claim.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from functions.aws.clients import AwsClients
from functions.aws.errors import describe, transient_errors
from shared.errors import PermanentError, TransientError
from shared.mail import to_message
from shared.ports import OutgoingEmail

# Retrying cannot fix these: the message, sender or recipient is unacceptable.
PERMANENT_CODES = frozenset(
    {
        "BadRequestException",
        "MailFromDomainNotVerifiedException",
        "MessageRejected",
        "NotFoundException",
    }
)
# The account is paused or over quota: an operator fixes it, the queue retries meanwhile.
OPERATIONAL_CODES = frozenset({"AccountSuspendedException", "SendingPausedException"})


class SesMailer:
    """Sends email through SES v2 ``SendEmail`` with raw content."""

    def __init__(
        self, clients: AwsClients, *, sender: str, configuration_set: str | None = None
    ) -> None:
        self._clients = clients
        self.sender = sender
        self.configuration_set = configuration_set

    def send(self, email: OutgoingEmail) -> None:
        """Send one email; throttling is transient, rejections permanent."""
        arguments: dict[str, object] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {"Raw": {"Data": bytes(to_message(email, self.sender))}},
        }
        if self.configuration_set:
            arguments["ConfigurationSetName"] = self.configuration_set
        try:
            with transient_errors("SES SendEmail"):
                self._clients.sesv2.send_email(**arguments)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in PERMANENT_CODES:
                raise PermanentError(
                    f"SES refused the email to {email.to}: {describe(exc)}"
                ) from exc
            if code in OPERATIONAL_CODES:
                raise TransientError(f"SES cannot send right now: {describe(exc)}") from exc
            raise
