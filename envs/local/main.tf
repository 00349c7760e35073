# The whole organization on the local emulator: the hub account 123456789012 (directory Region
# us-east-1, spoke-region eu-west-1) and two workload accounts with spoke-account in both Regions.

locals {
  hub_account_id       = "123456789012"
  workload_account_ids = ["111111111111", "222222222222"]
}

# Powertools for the function, as a layer published here: the emulator has none of the
# published Powertools layers, so the local system publishes the same pinned Powertools
# (build/powertools-layer.zip from `make package`) and passes its ARN to the hub module.
resource "aws_lambda_layer_version" "powertools" {
  layer_name               = "${var.name_prefix}-powertools"
  filename                 = var.powertools_layer_zip_path
  source_code_hash         = filebase64sha256(var.powertools_layer_zip_path)
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

module "hub" {
  source = "../../modules/hub"

  account_id              = local.hub_account_id
  allowed_account_ids     = local.workload_account_ids
  name_prefix             = var.name_prefix
  queue_delay_seconds     = var.queue_delay_seconds
  spoke_regions           = ["eu-west-1"]
  join_password_parameter = var.join_password_parameter_name
  directory               = var.directory
  lambda_zip_path         = var.lambda_zip_path
  lambda_zip_hash         = filebase64sha256(var.lambda_zip_path)
  powertools_layer        = { arn = aws_lambda_layer_version.powertools.arn }
  lambda_config = {
    event_source_mapping_enabled = var.event_source_mapping_enabled
    log_retention_days           = 7
  }
  # The scenario's reconcile run follows the events it lost by seconds: no grace period here.
  reconcile = { grace_period_minutes = 0 }
  # workload 1 forwards its Auto Scaling lifecycle actions (the scenario's group and hooks)
  lifecycle_hooks = { enabled = true }
  tags            = var.tags
}

module "hub_euw1" {
  source    = "../../modules/spoke-region"
  providers = { aws = aws.hub_euw1, aws.hub = aws }

  account_id          = local.hub_account_id
  allowed_account_ids = local.workload_account_ids
  name_prefix         = var.name_prefix
  hub_queue_arn       = module.hub.queue_arn
  tags                = var.tags
}

module "w1_use1" {
  source    = "../../modules/spoke-account"
  providers = { aws = aws.w1_use1 }

  account_id               = "111111111111"
  hub_account_id           = local.hub_account_id
  hub_lambda_role_arn      = module.hub.lambda_role_arn
  create_account_resources = true
  lifecycle_hooks          = { enabled = true }
  name_prefix              = var.name_prefix
  tags                     = var.tags
}

module "w1_euw1" {
  source    = "../../modules/spoke-account"
  providers = { aws = aws.w1_euw1 }

  account_id          = "111111111111"
  hub_account_id      = local.hub_account_id
  hub_lambda_role_arn = module.hub.lambda_role_arn
  lifecycle_hooks     = { enabled = true }
  name_prefix         = var.name_prefix
  tags                = var.tags
}

module "w2_use1" {
  source    = "../../modules/spoke-account"
  providers = { aws = aws.w2_use1 }

  account_id               = "222222222222"
  hub_account_id           = local.hub_account_id
  hub_lambda_role_arn      = module.hub.lambda_role_arn
  create_account_resources = true
  name_prefix              = var.name_prefix
  tags                     = var.tags
}

module "w2_euw1" {
  source    = "../../modules/spoke-account"
  providers = { aws = aws.w2_euw1 }

  account_id          = "222222222222"
  hub_account_id      = local.hub_account_id
  hub_lambda_role_arn = module.hub.lambda_role_arn
  name_prefix         = var.name_prefix
  tags                = var.tags
}
