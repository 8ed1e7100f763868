# ---------------------------------------------------------------------------
# HTTP producers: one API Gateway HTTP API, a route `<METHOD> <path>` per
# catalog http_endpoint, Lambda proxy integrations (payload format 2.0),
# throttling and JSON access logs on the $default stage.
#
# Route authorization: the orders API (and any endpoint not listed in
# var.signed_webhook_endpoints) uses var.orders_api_auth, AWS_IAM by default
# (SigV4, execute-api:Invoke) or a JWT authorizer; NONE is an explicit opt-in.
# Signed webhooks have no gateway authorization: the provider cannot sign with
# AWS credentials, so the function verifies the HMAC signature of each request.
# ---------------------------------------------------------------------------

locals {
  create_api = length(var.http_endpoints) > 0

  signed_webhooks = {
    for name, e in var.http_endpoints : name => e if contains(var.signed_webhook_endpoints, name)
  }
  authenticated_endpoints = {
    for name, e in var.http_endpoints : name => e if !contains(var.signed_webhook_endpoints, name)
  }

  # execute-api ARN of each route (any stage); path parameters ({id}) become wildcards.
  route_execution_arns = {
    for name, e in var.http_endpoints : name => "${aws_apigatewayv2_api.http[0].execution_arn}/*/${e.method}${replace(e.path, "/\\{[^}]*\\}/", "*")}"
  }
}

resource "aws_apigatewayv2_api" "http" {
  count = local.create_api ? 1 : 0

  name          = "${var.name_prefix}-http"
  description   = "${var.name_prefix} HTTP producers: ${join(", ", [for e in values(var.http_endpoints) : "${e.method} ${e.path}"])}"
  protocol_type = "HTTP"

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "api_access" {
  count = local.create_api ? 1 : 0

  name              = "/aws/apigateway/${var.name_prefix}-http"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.suite.arn

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  count = local.create_api ? 1 : 0

  api_id      = aws_apigatewayv2_api.http[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit    = var.api_throttling_rate_limit
    throttling_burst_limit   = var.api_throttling_burst_limit
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access[0].arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      protocol           = "$context.protocol"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      errorMessage       = "$context.error.message"
    })
  }

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "endpoint" {
  for_each = var.http_endpoints

  api_id                 = aws_apigatewayv2_api.http[0].id
  description            = "${each.key}: ${each.value.method} ${each.value.path}"
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.function[each.key].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = min(30000, (each.value.timeout_seconds + 1) * 1000)
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = local.create_api && var.orders_api_auth.mode == "JWT" ? 1 : 0

  api_id           = aws_apigatewayv2_api.http[0].id
  name             = "${var.name_prefix}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.orders_api_auth.jwt_issuer
    audience = var.orders_api_auth.jwt_audience
  }
}

# The orders API and every other endpoint that is not a signed webhook.
resource "aws_apigatewayv2_route" "endpoint" {
  for_each = local.authenticated_endpoints

  api_id             = aws_apigatewayv2_api.http[0].id
  route_key          = "${each.value.method} ${each.value.path}"
  target             = "integrations/${aws_apigatewayv2_integration.endpoint[each.key].id}"
  authorization_type = var.orders_api_auth.mode
  authorizer_id      = var.orders_api_auth.mode == "JWT" ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

resource "aws_apigatewayv2_route" "signed_webhook" {
  #checkov:skip=CKV_AWS_309:Payment provider webhook: the provider cannot sign with AWS credentials or present a JWT, so the function authenticates every request by its HMAC signature (secret in Secrets Manager, timestamp tolerance) and rejects unsigned ones with 401; the route is throttled on the stage
  for_each = local.signed_webhooks

  api_id             = aws_apigatewayv2_api.http[0].id
  route_key          = "${each.value.method} ${each.value.path}"
  target             = "integrations/${aws_apigatewayv2_integration.endpoint[each.key].id}"
  authorization_type = "NONE"

  lifecycle {
    precondition {
      condition     = contains(try(local.function_needs[each.key].ports, []), "webhook_secrets")
      error_message = "Signed webhook endpoint ${each.key} must declare the webhook_secrets port (shared/catalog/needs.json): without the HMAC secret it cannot authenticate its callers."
    }
  }
}

# The webhook route used to be an instance of aws_apigatewayv2_route.endpoint:
# move it in state instead of deleting and re-creating the same route key (a
# create racing the delete would conflict). Terraform rejects this block if
# payment_webhook is ever taken out of signed_webhook_endpoints: drop it then.
moved {
  from = aws_apigatewayv2_route.endpoint["payment_webhook"]
  to   = aws_apigatewayv2_route.signed_webhook["payment_webhook"]
}

resource "aws_lambda_permission" "api" {
  for_each = var.http_endpoints

  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = local.route_execution_arns[each.key]
}

check "orders_api_auth" {
  assert {
    condition     = var.orders_api_auth.mode != "NONE" || length(local.authenticated_endpoints) == 0
    error_message = "orders_api_auth.mode = \"NONE\": ${join(", ", [for e in values(local.authenticated_endpoints) : "${e.method} ${e.path}"])} accept unauthenticated requests from anyone."
  }
}
