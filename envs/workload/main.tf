# modules/spoke-account in the home Region (with the account-wide role) and in every other
# Region of var.regions (one module block per pre-wired Region, see providers.tf).

module "home" {
  source = "../../modules/spoke-account"

  account_id               = var.account_id
  hub_account_id           = var.hub_account_id
  hub_lambda_role_arn      = var.hub_lambda_role_arn
  name_prefix              = var.name_prefix
  lifecycle_hooks          = var.lifecycle_hooks
  create_account_resources = true
}

module "region_use1" {
  source    = "../../modules/spoke-account"
  count     = contains(var.regions, "us-east-1") && var.region != "us-east-1" ? 1 : 0
  providers = { aws = aws.use1 }

  account_id          = var.account_id
  hub_account_id      = var.hub_account_id
  hub_lambda_role_arn = var.hub_lambda_role_arn
  name_prefix         = var.name_prefix
  lifecycle_hooks     = var.lifecycle_hooks
}

module "region_use2" {
  source    = "../../modules/spoke-account"
  count     = contains(var.regions, "us-east-2") && var.region != "us-east-2" ? 1 : 0
  providers = { aws = aws.use2 }

  account_id          = var.account_id
  hub_account_id      = var.hub_account_id
  hub_lambda_role_arn = var.hub_lambda_role_arn
  name_prefix         = var.name_prefix
  lifecycle_hooks     = var.lifecycle_hooks
}

module "region_usw2" {
  source    = "../../modules/spoke-account"
  count     = contains(var.regions, "us-west-2") && var.region != "us-west-2" ? 1 : 0
  providers = { aws = aws.usw2 }

  account_id          = var.account_id
  hub_account_id      = var.hub_account_id
  hub_lambda_role_arn = var.hub_lambda_role_arn
  name_prefix         = var.name_prefix
  lifecycle_hooks     = var.lifecycle_hooks
}

module "region_euw1" {
  source    = "../../modules/spoke-account"
  count     = contains(var.regions, "eu-west-1") && var.region != "eu-west-1" ? 1 : 0
  providers = { aws = aws.euw1 }

  account_id          = var.account_id
  hub_account_id      = var.hub_account_id
  hub_lambda_role_arn = var.hub_lambda_role_arn
  name_prefix         = var.name_prefix
  lifecycle_hooks     = var.lifecycle_hooks
}

module "region_euc1" {
  source    = "../../modules/spoke-account"
  count     = contains(var.regions, "eu-central-1") && var.region != "eu-central-1" ? 1 : 0
  providers = { aws = aws.euc1 }

  account_id          = var.account_id
  hub_account_id      = var.hub_account_id
  hub_lambda_role_arn = var.hub_lambda_role_arn
  name_prefix         = var.name_prefix
  lifecycle_hooks     = var.lifecycle_hooks
}

module "region_apse2" {
  source    = "../../modules/spoke-account"
  count     = contains(var.regions, "ap-southeast-2") && var.region != "ap-southeast-2" ? 1 : 0
  providers = { aws = aws.apse2 }

  account_id          = var.account_id
  hub_account_id      = var.hub_account_id
  hub_lambda_role_arn = var.hub_lambda_role_arn
  name_prefix         = var.name_prefix
  lifecycle_hooks     = var.lifecycle_hooks
}
