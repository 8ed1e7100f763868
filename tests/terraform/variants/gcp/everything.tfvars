# Every optional input set: CMEK, public HTTP, invokers, alerts e-mail, SMTP with a secret,
# Firestore elsewhere, project services managed outside, explicit package paths.
project_id                  = "eventsuite-test-1"
region                      = "us-central1"
name_prefix                 = "evs-test"
labels                      = { team = "payments" }
mail_from                   = "orders@example.com"
smtp                        = { host = "smtp.example.com", port = 465, username = "eventsuite", starttls = false }
smtp_password_secret_id     = "eventsuite-smtp-password"
kms_key_name                = "projects/eventsuite-test-1/locations/us-central1/keyRings/evs/cryptoKeys/data"
public_http                 = true
http_invoker_members        = ["serviceAccount:gateway@eventsuite-test-1.iam.gserviceaccount.com"]
alert_email                 = "oncall@example.com"
firestore_location          = "nam5"
firestore_delete_protection = false
force_destroy_buckets       = true
enable_project_services     = false
max_instance_count          = 3
min_instance_count          = 1
package_paths = {
  images = "../../build/gcp/images.zip"
  orders = "../../build/gcp/orders.zip"
}
payment_provider = "stripe"
