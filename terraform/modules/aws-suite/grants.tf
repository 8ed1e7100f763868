# ---------------------------------------------------------------------------
# What each function may do, derived from the ports its handlers declare
# (var.function_needs = shared/catalog/needs.json) and the events it emits.
#
# This file is provider-free on purpose: grants name their targets
# symbolically ("table:orders", "dlq:payments"), iam.tf turns them into ARNs,
# and tests/terraform/test_least_privilege.py evaluates these locals with the
# real Terraform and compares every function's grants with its needs.
#
# Port -> AWS permissions:
#   objects         : read claims (claim checks resolved on decode); the
#                     functions reading uploads (consumers of the upload
#                     event) read uploads under its prefix; thumbnail writers
#                     write thumbnails; publishers write claims
#   index           : PutItem on the index table (the indexer upserts)
#   idempotency     : Get/Put/DeleteItem on the idempotency table (claim,
#                     complete, release a failed claim)
#   orders          : consumers GetItem/PutItem/UpdateItem on the orders table;
#                     the orders API PutItem/GetItem/UpdateItem (intake with its
#                     outbox); read-only (GET) endpoints GetItem; schedules Query
#                     on the sparse outbox index and GetItem/UpdateItem (relay)
#   publisher       : PutEvents on the suite bus, only its emitted detail-types
#   payments        : payment_provider = stripe: GetSecretValue on the Stripe API
#                     key secret only; simulated: nothing (no cloud call)
#   mailer          : SES send as mail_from (mailer = ses); with smtp,
#                     GetSecretValue on the SMTP password secret only
#   dead_letters    : SendMessage to its own consumer DLQ only
#   webhook_secrets : GetSecretValue on the webhook secret only
# ---------------------------------------------------------------------------

locals {
  function_kinds = merge(
    { for name in keys(var.consumers) : name => "consumer" },
    # An endpoint that only reads (GET: the order status) gets read access, nothing more.
    { for name, e in var.http_endpoints : name => contains(["GET", "HEAD"], upper(e.method)) ? "read" : "http" },
    { for name in keys(var.schedules) : name => "schedule" },
  )

  # needs.json, flattened to function name => { ports, emits }.
  function_needs = merge(
    var.function_needs.consumers,
    var.function_needs.http_endpoints,
    var.function_needs.schedules,
  )

  functions_without_needs = [for name in keys(local.function_kinds) : name if !contains(keys(local.function_needs), name)]
  needs_without_function  = [for name in keys(local.function_needs) : name if !contains(keys(local.function_kinds), name)]

  # Object-store specifics per function (bucket level). Readers of uploads are the consumers of
  # the upload event; thumbnail writers are listed in var.thumbnail_writers.
  upload_readers = [for name, c in var.consumers : name if contains(c.subscribes, var.upload_event_name)]

  port_grants = {
    for name, kind in local.function_kinds : name => {
      objects = concat(
        [{ sid = "ClaimsRead", actions = ["s3:GetObject"], targets = ["objects:claims"], conditions = {} }],
        [
          for r in [name] : { sid = "ClaimsWrite", actions = ["s3:PutObject"], targets = ["objects:claims"], conditions = {} }
          if contains(try(local.function_needs[name].ports, []), "publisher")
        ],
        [
          for r in [name] : { sid = "UploadsRead", actions = ["s3:GetObject", "s3:GetObjectVersion"], targets = ["objects:uploads"], conditions = {} }
          if contains(local.upload_readers, name)
        ],
        [
          # Lets a missing upload answer 404 (permanent) rather than 403 (retried): S3 decides
          # that on s3:ListBucket without a prefix, so no s3:prefix condition can apply here.
          for r in [name] : { sid = "UploadsList", actions = ["s3:ListBucket"], targets = ["bucket:uploads"], conditions = {} }
          if contains(local.upload_readers, name)
        ],
        [
          for r in [name] : { sid = "ThumbnailsWrite", actions = ["s3:PutObject"], targets = ["objects:thumbnails"], conditions = {} }
          if contains(var.thumbnail_writers, name)
        ],
      )
      index       = [{ sid = "IndexTable", actions = ["dynamodb:PutItem"], targets = ["table:index"], conditions = {} }]
      idempotency = [{ sid = "IdempotencyTable", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"], targets = ["table:idempotency"], conditions = {} }]
      orders = {
        # A conditional PutItem (or TransactWriteItems of Puts, checked as PutItem), a
        # consistent GetItem and the status transition's UpdateItem.
        consumer = [{ sid = "OrdersTable", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], targets = ["table:orders"], conditions = {} }]
        # The orders API stores a new order with its outbox, reads it back and empties the
        # outbox once the announcement is published.
        http = [{ sid = "OrdersTableIntake", actions = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"], targets = ["table:orders"], conditions = {} }]
        # The order status endpoint reads one order.
        read = [{ sid = "OrdersTableRead", actions = ["dynamodb:GetItem"], targets = ["table:orders"], conditions = {} }]
        # The outbox relay finds pending outboxes with one Query on the sparse outbox index,
        # then reads and empties each one.
        schedule = [
          { sid = "OrdersOutboxIndexQuery", actions = ["dynamodb:Query"], targets = ["table:orders_outbox_index"], conditions = {} },
          { sid = "OrdersOutboxRelay", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], targets = ["table:orders"], conditions = {} },
        ]
      }[kind]
      publisher = [{
        sid     = "PublishOwnEvents"
        actions = ["events:PutEvents"]
        targets = ["bus:events"]
        conditions = {
          StringEquals = {
            "events:detail-type" = sort([for e in try(local.function_needs[name].emits, []) : try(var.events[e].type, e)])
          }
        }
      }]
      payments = [
        for p in [var.payment_provider] : { sid = "StripeApiKeyRead", actions = ["secretsmanager:GetSecretValue"], targets = ["secret:stripe"], conditions = {} }
        if p == "stripe"
      ]
      mailer = concat(
        [
          for m in [var.mailer] : {
            sid        = "SendMailAsSender"
            actions    = ["ses:SendEmail", "ses:SendRawEmail"]
            targets    = ["ses:identities"]
            conditions = { StringEquals = { "ses:FromAddress" = [var.mail_from] } }
          } if m == "ses"
        ],
        [
          for m in [var.mailer] : {
            sid        = "SmtpPasswordRead"
            actions    = ["secretsmanager:GetSecretValue"]
            targets    = ["secret:smtp"]
            conditions = {}
          } if m == "smtp"
        ],
      )
      dead_letters    = [for r in [name] : { sid = "OwnDeadLetterQueueSend", actions = ["sqs:SendMessage"], targets = ["dlq:${name}"], conditions = {} } if kind == "consumer"]
      webhook_secrets = [{ sid = "WebhookSecretRead", actions = ["secretsmanager:GetSecretValue"], targets = ["secret:webhook"], conditions = {} }]
    }
  }

  # Function name => its grants (one per port it declares, in needs.json order).
  function_grants = {
    for name in keys(local.function_kinds) : name => flatten([
      for p in try(local.function_needs[name].ports, []) : try(local.port_grants[name][p], [])
    ])
  }

  # Functions whose code sends mail: the only ones told where the SMTP password is.
  smtp_mail_functions = [for name in keys(local.function_kinds) : name if contains(try(local.function_needs[name].ports, []), "mailer")]

  # Functions that charge (the payments port): the only ones told where the Stripe key is.
  payment_functions = [for name in keys(local.function_kinds) : name if contains(try(local.function_needs[name].ports, []), "payments")]
}
