# Only the required input: no SMTP host (log-only mail), new resource group, no alert e-mails.
mail_from = "orders@example.com"
