variable "account_id" {
  description = "This workload account's id."
  type        = string
}

variable "hub_account_id" {
  description = "The hub (security) account id."
  type        = string
}

variable "hub_lambda_role_arn" {
  description = "The hub Lambda's role ARN (envs/hub output lambda_role_arn). null: computed from hub_account_id and name_prefix."
  type        = string
  default     = null
}

variable "lifecycle_hooks" {
  description = "Auto Scaling lifecycle hooks in this account, passed to every modules/spoke-account (see its README): forward the actions of the hooks named <name_prefix>-* in every Region, and let the spoke role complete them for the groups tagged group_tag."
  type        = any
  default     = {}
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of every name; must equal the hub's."
  type        = string
  default     = "ad-join"
  nullable    = false
}

variable "region" {
  description = "The home Region: spoke-account with the account-wide role."
  type        = string
}

variable "regions" {
  description = "Other Regions where instances run (each gets spoke-account). Only the pre-wired Regions of providers.tf are possible; the home Region is ignored here."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(setsubtract(var.regions, ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"])) == 0
    error_message = "regions may only hold the pre-wired Regions: us-east-1, us-east-2, us-west-2, eu-west-1, eu-central-1, ap-southeast-2. Add a provider and a module block for another."
  }
}

variable "tags" {
  description = "Tags on every taggable resource (provider default_tags)."
  type        = map(string)
  default     = { project = "ad-join" }
  nullable    = false
}
