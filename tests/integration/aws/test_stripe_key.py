"""The Stripe gateway on AWS: its API key is read from Secrets Manager (moto) on the first
charge, never from the function's environment."""

from __future__ import annotations

import pytest

from functions.aws.bootstrap import build_container
from functions.aws.clients import AwsClients
from functions.aws.config import AwsConfig
from functions.common.adapters.stripe_payments import StripePaymentGateway
from shared.ports import PaymentGateway
from tests.integration.aws.conftest import unique_prefix
from tests.stripe_standin import stripe_standin

pytestmark = pytest.mark.integration


def test_the_payments_function_charges_with_the_key_from_secrets_manager(
    clients: AwsClients,
) -> None:
    with stripe_standin() as stripe:
        stripe.api_key = "sk_test_from_secrets_manager"
        arn = clients.secretsmanager.create_secret(
            Name=f"{unique_prefix('stripe')}/stripe-api-key", SecretString=stripe.api_key
        )["ARN"]
        environ = {
            "EVENTSUITE_MAILER": "none",
            "EVENTSUITE_PAYMENT_PROVIDER": "stripe",
            "EVENTSUITE_STRIPE_API_KEY_SECRET_ARN": arn,
            "EVENTSUITE_STRIPE_API_BASE": stripe.url,
        }
        gateway = build_container(AwsConfig.from_env(environ), clients).get(PaymentGateway)
        assert isinstance(gateway, StripePaymentGateway)
        assert stripe.requests == []  # nothing read or sent before the first charge
        result = gateway.charge(
            order_id="ord_0123456789abcdef01234567",
            amount_minor=1250,
            currency="JPY",
            customer_email="ann@example.com",
            idempotency_key="ord_0123456789abcdef01234567:charge",
            payment_method="pm_card_visa",
        )
        assert result.approved
        [request] = stripe.creates()
        assert request.headers["authorization"] == "Bearer sk_test_from_secrets_manager"
        assert request.params["amount"] == "1250"


def test_stripe_without_its_key_secret_refuses_to_start(clients: AwsClients) -> None:
    environ = {"EVENTSUITE_MAILER": "none", "EVENTSUITE_PAYMENT_PROVIDER": "stripe"}
    container = build_container(AwsConfig.from_env(environ), clients)
    with pytest.raises(Exception, match="no Stripe API key secret is configured"):
        container.get(PaymentGateway)
