# Every input at its default: SES mailer, no alarm e-mail, AWS_IAM orders API.
payment_provider = "stripe"
