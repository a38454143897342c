-- The day's OpenAI costs as FOCUS 1.2 rows (BigQuery dialect), from the org's own daily tables the
-- previous steps just loaded (costs and token counts of the same day); docs/focus.md gives the
-- reason for every column.
--
-- Quantities: a cost line is `model, kind` per project and API key (`gpt-4o-2024-08-06, cached
-- input`); the usage report counts tokens per project, API key, model, batch and service tier. The
-- usage is summed to the cost line's grain first (one row per project, key and model), so the LEFT
-- JOIN gives each cost line at most one match: no cost line is repeated, the money is untouched.
WITH tokens_by_key AS (
  SELECT
    project_id,
    api_key_id,
    model,
    -- input_tokens counts the cached ones too: the `input` line is priced on the rest
    SUM(input_tokens - input_cached_tokens) AS input_uncached,
    SUM(input_cached_tokens) AS input_cached,
    SUM(output_tokens) AS output,
    SUM(input_audio_tokens) AS input_audio,
    SUM(output_audio_tokens) AS output_audio
  FROM `{org_dataset}.openai_usage_daily`
  WHERE usage_date = @date
  GROUP BY project_id, api_key_id, model
),
cost_lines AS (
  SELECT
    *,
    TRIM(SPLIT(line_item, ',')[SAFE_OFFSET(0)]) AS line_model,
    TRIM(SPLIT(line_item, ',')[SAFE_OFFSET(1)]) AS line_kind
  FROM `{org_dataset}.openai_costs_daily`
  WHERE usage_date = @date
),
counted AS (
  SELECT
    c.*,
    c.line_kind IN ('input', 'cached input', 'output', 'audio input', 'audio output') AS token_line,
    CASE c.line_kind
      WHEN 'input' THEN t.input_uncached
      WHEN 'cached input' THEN t.input_cached
      WHEN 'output' THEN t.output
      WHEN 'audio input' THEN t.input_audio
      WHEN 'audio output' THEN t.output_audio
    END AS line_tokens
  FROM cost_lines AS c
  LEFT JOIN tokens_by_key AS t
    -- NULL keys (a cost without a project or key) match NULL keys; ids are never empty strings
    ON IFNULL(t.project_id, '') = IFNULL(c.project_id, '')
    AND IFNULL(t.api_key_id, '') = IFNULL(c.api_key_id, '')
    AND t.model = c.line_model
),
quantified AS (
  SELECT
    *,
    -- the tokens behind the line; NULL when it is no token line or the usage report has no
    -- counterpart (no row, or no tokens for a charged line): then it stays one unit of its line
    IF(token_line AND line_tokens IS NOT NULL AND (line_tokens > 0 OR amount = 0), line_tokens, NULL) AS tokens
  FROM counted
),
-- PricingQuantity = quantity_count / quantity_per: the count per 1000, or one unit of the line
sized AS (
  SELECT
    *,
    IFNULL(tokens, 1) AS quantity_count,
    IF(tokens IS NULL, 1, 1000) AS quantity_per
  FROM quantified
),
-- ListUnitPrice = amount / PricingQuantity = amount x per / count, to 18 decimals in two exact steps
-- (a division is approximate on DuckDB, which divides decimals as doubles): the quotient to 9
-- decimals, then the remainder of that division (exact decimal arithmetic) divided again; the
-- remainder is so small that the second quotient is right to far below 1e-18 on both engines
priced AS (
  SELECT
    *,
    IF(quantity_per = 1, CAST(quantity_count AS NUMERIC), CAST(quantity_count AS NUMERIC) * CAST('0.001' AS NUMERIC))
      AS pricing_quantity,
    IF(quantity_count = 0, CAST(0 AS NUMERIC), CAST(ROUND(amount * quantity_per / quantity_count, 9) AS NUMERIC))
      AS price_nanos
  FROM sized
)
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
  -- priced per 1000 tokens (FOCUS unit format `<quantity> <unit>`), the quantity exact (3 decimals)
  pricing_quantity AS PricingQuantity,
  IF(tokens IS NULL, 'Units', '1000 Tokens') AS PricingUnit,
  'Standard' AS PricingCategory,
  IF(tokens IS NULL, CAST(1 AS NUMERIC), CAST(tokens AS NUMERIC)) AS ConsumedQuantity,
  IF(tokens IS NULL, 'Units', 'Tokens') AS ConsumedUnit,
  -- ListCost / PricingQuantity rounded half away from zero to 18 decimals (0 for no tokens at no
  -- cost), so that ListUnitPrice x PricingQuantity gives back ListCost within 1e-18 per pricing unit
  IF(quantity_count = 0, CAST(0 AS BIGNUMERIC),
    CAST(price_nanos AS BIGNUMERIC)
    + CAST(ROUND(CAST(amount * quantity_per - price_nanos * quantity_count AS BIGNUMERIC) / quantity_count, 18)
      AS BIGNUMERIC)) AS ListUnitPrice,
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
  line_model AS x_Model,
  line_kind AS x_TokenType,
  api_key_id AS x_ApiKeyId,
  FORMAT_DATE('%Y%m', usage_date) AS x_InvoiceMonth,
  fetched_at AS x_SourceExportTime,
  source_rows AS x_SourceRows,
  @run_id AS x_RunId,
  -- a token line the usage report has no tokens for: the run warns (gcp.bq_etl `warning_column`)
  IF(token_line AND tokens IS NULL,
    CONCAT(line_item, ' (project ', IFNULL(project_id, 'none'), ', key ', IFNULL(api_key_id, 'none'), ')'),
    NULL) AS x_UnmatchedUsage
FROM priced
