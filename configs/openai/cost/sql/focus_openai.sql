-- The day's OpenAI costs as FOCUS 1.2 rows (BigQuery dialect), from the org's own daily table the
-- previous step just loaded; docs/focus.md gives the reason for every column.
SELECT
  -- the amount as loaded: NUMERIC, as every FOCUS table's money
  CAST(amount AS NUMERIC) AS BilledCost,
  CAST(amount AS NUMERIC) AS EffectiveCost,
  CAST(amount AS NUMERIC) AS ListCost,
  CAST(amount AS NUMERIC) AS ContractedCost,
  -- the cost report names no account: the CloudAct org stands for the OpenAI organization its
  -- admin key belongs to (one per integration)
  @org_slug AS BillingAccountId,
  @org_slug AS BillingAccountName,
  'Organization' AS BillingAccountType,
  currency AS BillingCurrency,
  -- OpenAI invoices by calendar month
  TIMESTAMP(DATE_TRUNC(usage_date, MONTH)) AS BillingPeriodStart,
  TIMESTAMP(DATE_ADD(DATE_TRUNC(usage_date, MONTH), INTERVAL 1 MONTH)) AS BillingPeriodEnd,
  TIMESTAMP(usage_date) AS ChargePeriodStart,
  TIMESTAMP(DATE_ADD(usage_date, INTERVAL 1 DAY)) AS ChargePeriodEnd,
  'Usage' AS ChargeCategory,
  CAST(NULL AS STRING) AS ChargeClass,
  IFNULL(line_item, 'OpenAI usage') AS ChargeDescription,
  'Usage-Based' AS ChargeFrequency,
  CONCAT(@org_slug, '-', FORMAT_DATE('%Y%m', usage_date)) AS InvoiceId,
  'OpenAI' AS InvoiceIssuerName,
  'OpenAI' AS ProviderName,
  'OpenAI' AS PublisherName,
  -- the cost report gives an amount per cost line and day, no quantity: each row is one unit of
  -- its line (the tokens behind it are in the usage pipeline's table)
  CAST(1 AS NUMERIC) AS PricingQuantity,
  'Units' AS PricingUnit,
  'Standard' AS PricingCategory,
  CAST(1 AS NUMERIC) AS ConsumedQuantity,
  'Units' AS ConsumedUnit,
  CAST(amount AS NUMERIC) AS ListUnitPrice,
  'AI and Machine Learning' AS ServiceCategory,
  'Generative AI' AS ServiceSubcategory,
  'OpenAI API' AS ServiceName,
  IFNULL(line_item, 'unknown') AS SkuId,
  project_id AS SubAccountId,
  project_id AS SubAccountName,
  IF(project_id IS NULL, NULL, 'Project') AS SubAccountType,
  CAST(NULL AS STRING) AS RegionId,
  CAST(NULL AS STRING) AS RegionName,
  CAST(NULL AS STRING) AS AvailabilityZone,
  CAST(NULL AS STRING) AS Tags,
  usage_date AS x_ChargeDate,
  'openai' AS x_Provider,
  CAST(NULL AS STRING) AS x_ServiceId,
  -- the line item is `model, kind` (e.g. `gpt-4o-2024-08-06, cached input`)
  line_item AS x_CostType,
  TRIM(SPLIT(line_item, ',')[SAFE_OFFSET(0)]) AS x_Model,
  TRIM(SPLIT(line_item, ',')[SAFE_OFFSET(1)]) AS x_TokenType,
  api_key_id AS x_ApiKeyId,
  FORMAT_DATE('%Y%m', usage_date) AS x_InvoiceMonth,
  fetched_at AS x_SourceExportTime,
  source_rows AS x_SourceRows,
  @run_id AS x_RunId
FROM `{org_dataset}.openai_costs_daily`
WHERE usage_date = @date
