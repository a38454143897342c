-- The day's GCP costs as FOCUS 1.2 rows (BigQuery dialect), from the org's own daily table that the
-- previous step just loaded. docs/focus.md gives the reason for every column.
-- One row per daily row (Usage, Tax or Adjustment, with the discount credits applied on it), plus one
-- Credit row per daily row that received promotion or free-tier credits.
WITH daily AS (
  SELECT
    *,
    CASE cost_type
      WHEN 'regular' THEN 'Usage'
      WHEN 'tax' THEN 'Tax'
      -- adjustment, rounding_error and any type Google adds: not usage, so not priced as usage
      ELSE 'Adjustment'
    END AS charge_category,
    -- invoice.month is the month the cost is invoiced in; Google invoices billing periods by month
    DATE(CAST(SUBSTR(IFNULL(invoice_month, FORMAT_DATE('%Y%m', usage_date)), 1, 4) AS INT64),
      CAST(SUBSTR(IFNULL(invoice_month, FORMAT_DATE('%Y%m', usage_date)), 5, 2) AS INT64), 1) AS billing_month,
    -- the FOCUS service lookup for GCP services (by service.description); unknown -> Other
    CASE service_description
      WHEN 'Compute Engine' THEN 'Compute'
      WHEN 'Kubernetes Engine' THEN 'Compute'
      WHEN 'Cloud Run' THEN 'Compute'
      WHEN 'Cloud Functions' THEN 'Compute'
      WHEN 'App Engine' THEN 'Compute'
      WHEN 'BigQuery' THEN 'Databases'
      WHEN 'Cloud SQL' THEN 'Databases'
      WHEN 'Cloud Spanner' THEN 'Databases'
      WHEN 'Cloud Bigtable' THEN 'Databases'
      WHEN 'Cloud Firestore' THEN 'Databases'
      WHEN 'Cloud Memorystore for Redis' THEN 'Databases'
      WHEN 'Cloud Storage' THEN 'Storage'
      WHEN 'Cloud Filestore' THEN 'Storage'
      WHEN 'Cloud Pub/Sub' THEN 'Integration'
      WHEN 'Cloud Scheduler' THEN 'Integration'
      WHEN 'Cloud Tasks' THEN 'Integration'
      WHEN 'Workflows' THEN 'Integration'
      WHEN 'Cloud Logging' THEN 'Management and Governance'
      WHEN 'Cloud Monitoring' THEN 'Management and Governance'
      WHEN 'Support' THEN 'Management and Governance'
      WHEN 'Networking' THEN 'Networking'
      WHEN 'Cloud DNS' THEN 'Networking'
      WHEN 'Cloud CDN' THEN 'Networking'
      WHEN 'Cloud Load Balancing' THEN 'Networking'
      WHEN 'Cloud Key Management Service (KMS)' THEN 'Security'
      WHEN 'Secret Manager' THEN 'Security'
      WHEN 'Cloud Build' THEN 'Developer Tools'
      WHEN 'Artifact Registry' THEN 'Developer Tools'
      WHEN 'Vertex AI' THEN 'AI and Machine Learning'
      WHEN 'Gemini API' THEN 'AI and Machine Learning'
      WHEN 'Cloud Dataflow' THEN 'Analytics'
      WHEN 'Cloud Dataproc' THEN 'Analytics'
      WHEN 'Looker Studio' THEN 'Analytics'
      ELSE 'Other'
    END AS service_category,
    CASE service_description
      WHEN 'Compute Engine' THEN 'Virtual Machines'
      WHEN 'Kubernetes Engine' THEN 'Containers'
      WHEN 'Cloud Run' THEN 'Serverless Compute'
      WHEN 'Cloud Functions' THEN 'Serverless Compute'
      WHEN 'App Engine' THEN 'Serverless Compute'
      WHEN 'BigQuery' THEN 'Data Warehouses'
      WHEN 'Cloud SQL' THEN 'Relational Databases'
      WHEN 'Cloud Spanner' THEN 'Relational Databases'
      WHEN 'Cloud Bigtable' THEN 'NoSQL Databases'
      WHEN 'Cloud Firestore' THEN 'NoSQL Databases'
      WHEN 'Cloud Memorystore for Redis' THEN 'Caching'
      WHEN 'Cloud Storage' THEN 'Object Storage'
      WHEN 'Cloud Filestore' THEN 'File Storage'
      WHEN 'Cloud Pub/Sub' THEN 'Messaging'
      WHEN 'Cloud Scheduler' THEN 'Workflow Orchestration'
      WHEN 'Cloud Tasks' THEN 'Messaging'
      WHEN 'Workflows' THEN 'Workflow Orchestration'
      WHEN 'Cloud Logging' THEN 'Observability'
      WHEN 'Cloud Monitoring' THEN 'Observability'
      WHEN 'Support' THEN 'Support'
      WHEN 'Networking' THEN 'Network Infrastructure'
      WHEN 'Cloud DNS' THEN 'Network Infrastructure'
      WHEN 'Cloud CDN' THEN 'Content Delivery'
      WHEN 'Cloud Load Balancing' THEN 'Application Networking'
      WHEN 'Cloud Key Management Service (KMS)' THEN 'Secret Management'
      WHEN 'Secret Manager' THEN 'Secret Management'
      WHEN 'Cloud Build' THEN 'Continuous Integration and Deployment'
      WHEN 'Artifact Registry' THEN 'Developer Platforms'
      WHEN 'Vertex AI' THEN 'AI Platforms'
      WHEN 'Gemini API' THEN 'Generative AI'
      WHEN 'Cloud Dataflow' THEN 'Data Processing'
      WHEN 'Cloud Dataproc' THEN 'Data Processing'
      WHEN 'Looker Studio' THEN 'Business Intelligence'
      ELSE 'Other (Other)'
    END AS service_subcategory,
    -- GCP pricing and usage units in the FOCUS unit format; others pass through unchanged
    CASE pricing_unit
      WHEN 'hour' THEN 'Hours'
      WHEN 'second' THEN 'Seconds'
      WHEN 'month' THEN 'Months'
      WHEN 'gibibyte' THEN 'GiB'
      WHEN 'gibibyte hour' THEN 'GiB-Hours'
      WHEN 'gibibyte month' THEN 'GiB-Months'
      WHEN 'tebibyte' THEN 'TiB'
      WHEN 'count' THEN 'Count'
      WHEN 'request' THEN 'Requests'
      ELSE IFNULL(pricing_unit, 'Units')
    END AS focus_pricing_unit,
    CASE usage_unit
      WHEN 'seconds' THEN 'Seconds'
      WHEN 'bytes' THEN 'Bytes'
      WHEN 'byte-seconds' THEN 'Byte-Seconds'
      WHEN 'requests' THEN 'Requests'
      WHEN 'count' THEN 'Count'
      ELSE IFNULL(usage_unit, 'Units')
    END AS focus_consumed_unit,
    -- the first step of ListUnitPrice (below): ListCost / PricingQuantity to 9 decimals
    IF(usage_amount_in_pricing_units = 0, CAST(0 AS NUMERIC),
      CAST(ROUND(IFNULL(cost_at_list, cost) / usage_amount_in_pricing_units, 9) AS NUMERIC)) AS list_price_nanos
  FROM `{org_dataset}.gcp_billing_daily_raw`
  WHERE usage_date = @date
)
SELECT
  CAST(cost + credits_discount AS NUMERIC) AS BilledCost,
  CAST(cost + credits_discount AS NUMERIC) AS EffectiveCost,
  CAST(IFNULL(cost_at_list, cost) AS NUMERIC) AS ListCost,
  CAST(cost AS NUMERIC) AS ContractedCost,
  billing_account_id AS BillingAccountId,
  billing_account_id AS BillingAccountName,
  'Billing Account' AS BillingAccountType,
  currency AS BillingCurrency,
  TIMESTAMP(billing_month) AS BillingPeriodStart,
  TIMESTAMP(DATE_ADD(billing_month, INTERVAL 1 MONTH)) AS BillingPeriodEnd,
  TIMESTAMP(usage_date) AS ChargePeriodStart,
  TIMESTAMP(DATE_ADD(usage_date, INTERVAL 1 DAY)) AS ChargePeriodEnd,
  charge_category AS ChargeCategory,
  -- a correction of an earlier, already invoiced month
  IF(charge_category = 'Adjustment' AND billing_month < DATE_TRUNC(usage_date, MONTH), 'Correction', NULL)
    AS ChargeClass,
  IFNULL(sku_description, service_description) AS ChargeDescription,
  IF(charge_category IN ('Usage', 'Tax'), 'Usage-Based', 'One-Time') AS ChargeFrequency,
  -- provisional: the billing account's invoice for the month (the export carries no invoice number)
  CONCAT(billing_account_id, '-', FORMAT_DATE('%Y%m', billing_month)) AS InvoiceId,
  'Google Cloud' AS InvoiceIssuerName,
  'Google Cloud' AS ProviderName,
  'Google Cloud' AS PublisherName,
  IF(charge_category = 'Usage', CAST(usage_amount_in_pricing_units AS NUMERIC), NULL) AS PricingQuantity,
  IF(charge_category = 'Usage', focus_pricing_unit, NULL) AS PricingUnit,
  CASE
    WHEN charge_category != 'Usage' THEN NULL
    WHEN LOWER(sku_description) LIKE '%spot%' OR LOWER(sku_description) LIKE '%preemptible%' THEN 'Dynamic'
    WHEN credits_committed != 0 THEN 'Committed'
    ELSE 'Standard'
  END AS PricingCategory,
  IF(charge_category = 'Usage', CAST(usage_amount AS NUMERIC), NULL) AS ConsumedQuantity,
  IF(charge_category = 'Usage', focus_consumed_unit, NULL) AS ConsumedUnit,
  -- ListCost / PricingQuantity to 18 decimals (BIGNUMERIC), so that a tiny price over a large quantity
  -- gives back ListCost: the quotient to 9 decimals, then the remainder of that division divided
  -- again (a division is approximate on DuckDB, which divides decimals as doubles; the remainder is
  -- so small that its quotient is right far below the validator's tolerance on both engines)
  IF(charge_category = 'Usage',
    IF(usage_amount_in_pricing_units = 0, CAST(0 AS BIGNUMERIC),
      CAST(list_price_nanos AS BIGNUMERIC)
      + CAST(ROUND(CAST(CAST(IFNULL(cost_at_list, cost) AS NUMERIC) - list_price_nanos * usage_amount_in_pricing_units
        AS BIGNUMERIC) / CAST(usage_amount_in_pricing_units AS NUMERIC), 18) AS BIGNUMERIC)),
    NULL) AS ListUnitPrice,
  service_category AS ServiceCategory,
  service_subcategory AS ServiceSubcategory,
  IFNULL(service_description, service_id) AS ServiceName,
  IF(charge_category = 'Tax', NULL, sku_id) AS SkuId,
  project_id AS SubAccountId,
  IF(project_id IS NULL, NULL, IFNULL(project_name, project_id)) AS SubAccountName,
  IF(project_id IS NULL, NULL, 'Project') AS SubAccountType,
  region AS RegionId,
  region AS RegionName,
  zone AS AvailabilityZone,
  labels_json AS Tags,
  usage_date AS x_ChargeDate,
  'gcp' AS x_Provider,
  service_id AS x_ServiceId,
  cost_type AS x_CostType,
  invoice_month AS x_InvoiceMonth,
  source_export_time AS x_SourceExportTime,
  source_rows AS x_SourceRows,
  @run_id AS x_RunId
FROM daily
UNION ALL
-- promotions and free tier are credits in FOCUS: money given, not a lower price for the usage
SELECT
  CAST(credits_promotion AS NUMERIC) AS BilledCost,
  CAST(credits_promotion AS NUMERIC) AS EffectiveCost,
  CAST(credits_promotion AS NUMERIC) AS ListCost,
  CAST(credits_promotion AS NUMERIC) AS ContractedCost,
  billing_account_id AS BillingAccountId,
  billing_account_id AS BillingAccountName,
  'Billing Account' AS BillingAccountType,
  currency AS BillingCurrency,
  TIMESTAMP(billing_month) AS BillingPeriodStart,
  TIMESTAMP(DATE_ADD(billing_month, INTERVAL 1 MONTH)) AS BillingPeriodEnd,
  TIMESTAMP(usage_date) AS ChargePeriodStart,
  TIMESTAMP(DATE_ADD(usage_date, INTERVAL 1 DAY)) AS ChargePeriodEnd,
  'Credit' AS ChargeCategory,
  CAST(NULL AS STRING) AS ChargeClass,
  CONCAT('Promotion and free-tier credits: ', IFNULL(sku_description, service_description)) AS ChargeDescription,
  'One-Time' AS ChargeFrequency,
  CONCAT(billing_account_id, '-', FORMAT_DATE('%Y%m', billing_month)) AS InvoiceId,
  'Google Cloud' AS InvoiceIssuerName,
  'Google Cloud' AS ProviderName,
  'Google Cloud' AS PublisherName,
  CAST(NULL AS NUMERIC) AS PricingQuantity,
  CAST(NULL AS STRING) AS PricingUnit,
  CAST(NULL AS STRING) AS PricingCategory,
  CAST(NULL AS NUMERIC) AS ConsumedQuantity,
  CAST(NULL AS STRING) AS ConsumedUnit,
  CAST(NULL AS BIGNUMERIC) AS ListUnitPrice,
  service_category AS ServiceCategory,
  service_subcategory AS ServiceSubcategory,
  IFNULL(service_description, service_id) AS ServiceName,
  sku_id AS SkuId,
  project_id AS SubAccountId,
  IF(project_id IS NULL, NULL, IFNULL(project_name, project_id)) AS SubAccountName,
  IF(project_id IS NULL, NULL, 'Project') AS SubAccountType,
  region AS RegionId,
  region AS RegionName,
  zone AS AvailabilityZone,
  labels_json AS Tags,
  usage_date AS x_ChargeDate,
  'gcp' AS x_Provider,
  service_id AS x_ServiceId,
  cost_type AS x_CostType,
  invoice_month AS x_InvoiceMonth,
  source_export_time AS x_SourceExportTime,
  source_rows AS x_SourceRows,
  @run_id AS x_RunId
FROM daily
WHERE credits_promotion != 0
