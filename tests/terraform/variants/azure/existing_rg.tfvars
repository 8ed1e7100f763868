# An existing resource group, secrets set through Terraform, explicit subscription and suffix,
# Entra ID with an allow-list, functions grouped into apps per role.
subscription_id           = "00000000-0000-0000-0000-000000000000"
name_prefix               = "evtest"
name_suffix               = "x1"
create_resource_group     = false
resource_group_name       = "existing-rg"
mail_from                 = "orders@example.com"
smtp                      = { host = "smtp.example.com" }
smtp_password             = "not-a-real-password"
webhook_secret            = "whsec_test"
shared_access_key_enabled = true
storage_replication_type  = "LRS"
alert_email_addresses     = []
orders_api_auth = {
  mode                        = "entra"
  client_id                   = "00000000-0000-0000-0000-000000000000"
  allowed_client_applications = ["11111111-1111-1111-1111-111111111111"]
}
function_apps = {
  images     = ["thumbnailer", "indexer"]
  orders     = ["payments", "notifier"]
  reconciler = ["order_reconciler"]
  api        = ["orders_api", "order_status"]
  webhook    = ["payment_webhook"]
}
payment_provider = "stripe"
