# Every provider points at the local emulator (moto server) given by var.endpoint_url, with
# dummy credentials. Workload accounts are reached through assume_role: moto lands the calls
# in the role's account (never set MOTO_ACCOUNT_ID, which would override that).

# Hub account 123456789012 (moto's default account), directory Region.
provider "aws" {
  region = "us-east-1"

  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  endpoints {
    cloudwatch     = var.endpoint_url
    dynamodb       = var.endpoint_url
    ec2            = var.endpoint_url
    events         = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    lambda         = var.endpoint_url
    logs           = var.endpoint_url
    secretsmanager = var.endpoint_url
    scheduler      = var.endpoint_url
    sns            = var.endpoint_url
    sqs            = var.endpoint_url
    ssm            = var.endpoint_url
    sts            = var.endpoint_url
  }
}

# Hub account, second Region.
provider "aws" {
  alias  = "hub_euw1"
  region = "eu-west-1"

  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  endpoints {
    cloudwatch     = var.endpoint_url
    dynamodb       = var.endpoint_url
    ec2            = var.endpoint_url
    events         = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    lambda         = var.endpoint_url
    logs           = var.endpoint_url
    secretsmanager = var.endpoint_url
    scheduler      = var.endpoint_url
    sns            = var.endpoint_url
    sqs            = var.endpoint_url
    ssm            = var.endpoint_url
    sts            = var.endpoint_url
  }
}

# Workload account 111111111111.
provider "aws" {
  alias  = "w1_use1"
  region = "us-east-1"

  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  assume_role {
    role_arn = "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
  }

  endpoints {
    cloudwatch     = var.endpoint_url
    dynamodb       = var.endpoint_url
    ec2            = var.endpoint_url
    events         = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    lambda         = var.endpoint_url
    logs           = var.endpoint_url
    secretsmanager = var.endpoint_url
    scheduler      = var.endpoint_url
    sns            = var.endpoint_url
    sqs            = var.endpoint_url
    ssm            = var.endpoint_url
    sts            = var.endpoint_url
  }
}

provider "aws" {
  alias  = "w1_euw1"
  region = "eu-west-1"

  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  assume_role {
    role_arn = "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
  }

  endpoints {
    cloudwatch     = var.endpoint_url
    dynamodb       = var.endpoint_url
    ec2            = var.endpoint_url
    events         = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    lambda         = var.endpoint_url
    logs           = var.endpoint_url
    secretsmanager = var.endpoint_url
    scheduler      = var.endpoint_url
    sns            = var.endpoint_url
    sqs            = var.endpoint_url
    ssm            = var.endpoint_url
    sts            = var.endpoint_url
  }
}

# Workload account 222222222222.
provider "aws" {
  alias  = "w2_use1"
  region = "us-east-1"

  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  assume_role {
    role_arn = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
  }

  endpoints {
    cloudwatch     = var.endpoint_url
    dynamodb       = var.endpoint_url
    ec2            = var.endpoint_url
    events         = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    lambda         = var.endpoint_url
    logs           = var.endpoint_url
    secretsmanager = var.endpoint_url
    scheduler      = var.endpoint_url
    sns            = var.endpoint_url
    sqs            = var.endpoint_url
    ssm            = var.endpoint_url
    sts            = var.endpoint_url
  }
}

provider "aws" {
  alias  = "w2_euw1"
  region = "eu-west-1"

  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  assume_role {
    role_arn = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
  }

  endpoints {
    cloudwatch     = var.endpoint_url
    dynamodb       = var.endpoint_url
    ec2            = var.endpoint_url
    events         = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    lambda         = var.endpoint_url
    logs           = var.endpoint_url
    secretsmanager = var.endpoint_url
    scheduler      = var.endpoint_url
    sns            = var.endpoint_url
    sqs            = var.endpoint_url
    ssm            = var.endpoint_url
    sts            = var.endpoint_url
  }
}
