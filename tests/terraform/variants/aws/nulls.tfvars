# Optional objects and strings explicitly null with the SES mailer.
smtp             = null
smtp_password    = null
alarm_email      = null
payment_provider = "simulated"
