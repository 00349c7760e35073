# The hub in the directory Region, and modules/spoke-region in every Region of var.spoke_regions
# (one module block per pre-wired Region, see providers.tf).

module "hub" {
  source = "../../modules/hub"

  account_id                 = var.account_id
  organization_id            = var.organization_id
  allowed_account_ids        = var.allowed_account_ids
  name_prefix                = var.name_prefix
  queue_delay_seconds        = var.queue_delay_seconds
  spoke_regions              = var.spoke_regions
  join_password_parameter    = var.join_password_parameter
  join_hub_instances         = var.join_hub_instances
  existing_config_table_name = var.existing_config_table_name
  dlq_redrive_principal_arns = var.dlq_redrive_principal_arns
  directory                  = var.directory
  lambda_config              = var.lambda_config
  lifecycle_hooks            = var.lifecycle_hooks
  lambda_zip_path            = var.lambda_zip_path
  lambda_zip_hash            = filebase64sha256(var.lambda_zip_path)
  vpc_config                 = var.vpc_config
  alarms                     = var.alarms
}

module "region_use1" {
  source    = "../../modules/spoke-region"
  count     = contains(var.spoke_regions, "us-east-1") ? 1 : 0
  providers = { aws = aws.use1, aws.hub = aws }

  account_id          = var.account_id
  organization_id     = var.organization_id
  allowed_account_ids = var.allowed_account_ids
  name_prefix         = var.name_prefix
  hub_queue_arn       = module.hub.queue_arn
}

module "region_use2" {
  source    = "../../modules/spoke-region"
  count     = contains(var.spoke_regions, "us-east-2") ? 1 : 0
  providers = { aws = aws.use2, aws.hub = aws }

  account_id          = var.account_id
  organization_id     = var.organization_id
  allowed_account_ids = var.allowed_account_ids
  name_prefix         = var.name_prefix
  hub_queue_arn       = module.hub.queue_arn
}

module "region_usw2" {
  source    = "../../modules/spoke-region"
  count     = contains(var.spoke_regions, "us-west-2") ? 1 : 0
  providers = { aws = aws.usw2, aws.hub = aws }

  account_id          = var.account_id
  organization_id     = var.organization_id
  allowed_account_ids = var.allowed_account_ids
  name_prefix         = var.name_prefix
  hub_queue_arn       = module.hub.queue_arn
}

module "region_euw1" {
  source    = "../../modules/spoke-region"
  count     = contains(var.spoke_regions, "eu-west-1") ? 1 : 0
  providers = { aws = aws.euw1, aws.hub = aws }

  account_id          = var.account_id
  organization_id     = var.organization_id
  allowed_account_ids = var.allowed_account_ids
  name_prefix         = var.name_prefix
  hub_queue_arn       = module.hub.queue_arn
}

module "region_euc1" {
  source    = "../../modules/spoke-region"
  count     = contains(var.spoke_regions, "eu-central-1") ? 1 : 0
  providers = { aws = aws.euc1, aws.hub = aws }

  account_id          = var.account_id
  organization_id     = var.organization_id
  allowed_account_ids = var.allowed_account_ids
  name_prefix         = var.name_prefix
  hub_queue_arn       = module.hub.queue_arn
}

module "region_apse2" {
  source    = "../../modules/spoke-region"
  count     = contains(var.spoke_regions, "ap-southeast-2") ? 1 : 0
  providers = { aws = aws.apse2, aws.hub = aws }

  account_id          = var.account_id
  organization_id     = var.organization_id
  allowed_account_ids = var.allowed_account_ids
  name_prefix         = var.name_prefix
  hub_queue_arn       = module.hub.queue_arn
}
