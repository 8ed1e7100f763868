# ---------------------------------------------------------------------------
# HTTP producers: one API Gateway HTTP API, a route `<METHOD> <path>` per
# catalog http_endpoint, Lambda proxy integrations (payload format 2.0),
# throttling and JSON access logs on the $default stage.
# ---------------------------------------------------------------------------

locals {
  create_api = length(var.http_endpoints) > 0
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

resource "aws_apigatewayv2_route" "endpoint" {
  #checkov:skip=CKV_AWS_309:The orders API is the public storefront entry point and the payment webhook is called by the provider without AWS credentials; the webhook is authenticated by its HMAC signature inside the function and both routes are throttled on the stage
  for_each = var.http_endpoints

  api_id             = aws_apigatewayv2_api.http[0].id
  route_key          = "${each.value.method} ${each.value.path}"
  target             = "integrations/${aws_apigatewayv2_integration.endpoint[each.key].id}"
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "api" {
  for_each = var.http_endpoints

  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  # execute-api ARN of this route only; path parameters ({id}) become wildcards.
  source_arn = "${aws_apigatewayv2_api.http[0].execution_arn}/*/${each.value.method}${replace(each.value.path, "/\\{[^}]*\\}/", "*")}"
}
