#!/usr/bin/env bash
# Fail fast, with a clear message, before plan/deploy: terraform present, a var file, credentials.
# Usage: preflight.sh aws|gcp|azure [--need-cli]
set -euo pipefail
cloud="${1:?usage: preflight.sh aws|gcp|azure}"
root="terraform/${cloud}"
fail() { echo "error: $*" >&2; exit 2; }

command -v terraform >/dev/null 2>&1 \
  || fail "terraform is not installed (>= 1.6 needed): https://developer.hashicorp.com/terraform/install"
[ -f "${root}/terraform.tfvars" ] \
  || fail "${root}/terraform.tfvars is missing: copy ${root}/terraform.tfvars.example and fill it in"

case "${cloud}" in
  aws)
    if [ -z "${AWS_ACCESS_KEY_ID:-}" ] && [ -z "${AWS_PROFILE:-}" ] && [ -z "${AWS_WEB_IDENTITY_TOKEN_FILE:-}" ] \
       && ! { command -v aws >/dev/null 2>&1 && aws sts get-caller-identity >/dev/null 2>&1; }; then
      fail "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or use OIDC in CI)"
    fi ;;
  gcp)
    if [ -z "${GOOGLE_APPLICATION_CREDENTIALS:-}" ] && [ -z "${GOOGLE_OAUTH_ACCESS_TOKEN:-}" ] \
       && ! { command -v gcloud >/dev/null 2>&1 && gcloud auth application-default print-access-token >/dev/null 2>&1; }; then
      fail "no Google Cloud credentials: run 'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS"
    fi ;;
  azure)
    if [ -z "${ARM_CLIENT_ID:-}" ] && ! { command -v az >/dev/null 2>&1 && az account show >/dev/null 2>&1; }; then
      fail "no Azure credentials: run 'az login' or set ARM_CLIENT_ID/ARM_TENANT_ID/ARM_SUBSCRIPTION_ID"
    fi
    if [ "${2:-}" = "--need-cli" ] && ! command -v az >/dev/null 2>&1; then
      fail "the Azure CLI (az) is needed to upload the package to a Flex Consumption app"
    fi ;;
  *) fail "unknown cloud ${cloud}" ;;
esac
