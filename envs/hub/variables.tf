variable "account_id" {
  description = "The hub (security) account id."
  type        = string
}

variable "alarms" {
  description = "Alarm settings passed to modules/hub (create_sns_topic, actions)."
  type = object({
    create_sns_topic = optional(bool, true)
    actions          = optional(list(string), [])
  })
  default  = {}
  nullable = false
}

variable "allowed_account_ids" {
  description = "Accounts allowed to send events (exactly one of organization_id and allowed_account_ids)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "directory" {
  description = "Directory settings passed to modules/hub (adapter, leave_adapter, directory_ids, default_directory_id, region, ad_tools_host_tag, computer_name_prefix, tag_computer_name)."
  type = object({
    adapter                 = optional(string, "ds")
    leave_adapter           = optional(string, "ad_tools_host")
    directory_ids           = optional(list(string), [])
    default_directory_id    = optional(string)
    region                  = optional(string)
    ad_tools_host_tag       = optional(object({ key = string, value = string }), { key = "adToolsHost", value = "true" })
    computer_name_prefix    = optional(string, "EC2")
    tag_computer_name       = optional(bool, false)
    ldap_ca_cert_parameters = optional(list(string), [])
  })
  default  = {}
  nullable = false
}

variable "dlq_redrive_principal_arns" {
  description = "Roles of this account allowed to redrive the DLQ into the queue (ad-join dlq redrive); every other sender is denied."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "existing_config_table_name" {
  description = "Use this existing config table (for example the seed's) instead of creating one."
  type        = string
  default     = null
}

variable "join_hub_instances" {
  description = "Also join this account's own instances (see modules/hub); deploy envs/workload here too, with the hub's Lambda role trusted."
  type        = bool
  default     = false
  nullable    = false
}

variable "join_password_parameter" {
  description = "SSM SecureString parameter name or Secrets Manager secret ARN of the join user's password (the name only)."
  type        = string
}

variable "lambda_config" {
  description = "Lambda and event source mapping settings passed to modules/hub (see its README)."
  type        = any
  default     = {}
  nullable    = false
}

variable "lambda_zip_path" {
  description = "Path of the Lambda zip built by `make package`; its hash is computed from the file."
  type        = string
  default     = "../../build/adjoin-lambda.zip"
  nullable    = false
}

variable "lifecycle_hooks" {
  description = "Auto Scaling lifecycle hooks settings passed to modules/hub (see its README)."
  type        = any
  default     = {}
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of every name; the workload accounts must use the same."
  type        = string
  default     = "ad-join"
  nullable    = false
}

variable "organization_id" {
  description = "AWS Organizations id whose accounts may send events (exactly one of organization_id and allowed_account_ids)."
  type        = string
  default     = null
}

variable "queue_delay_seconds" {
  description = "Delay of the domain-join queue in seconds (0-900); null takes modules/hub's default (30 s: the Lambda retries until the SSM agent is online). 300 is the seed's blind wait."
  type        = number
  default     = null
}

variable "region" {
  description = "The directory Region, where the hub runs."
  type        = string
}

variable "spoke_regions" {
  description = "Other Regions where instances run: each gets modules/spoke-region. Only the pre-wired Regions of providers.tf are possible."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = length(setsubtract(var.spoke_regions, ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"])) == 0
    error_message = "spoke_regions may only hold the pre-wired Regions: us-east-1, us-east-2, us-west-2, eu-west-1, eu-central-1, ap-southeast-2. Add a provider and a module block for another."
  }
}

variable "tags" {
  description = "Tags on every taggable resource (provider default_tags)."
  type        = map(string)
  default     = { project = "ad-join" }
  nullable    = false
}

variable "vpc_config" {
  description = "Attach the Lambda to the directory's VPC (ldap adapter): subnet_ids, security_group_ids."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}
