-- The day's Anthropic costs as FOCUS 1.2 rows (BigQuery dialect), from the org's own daily tables
-- the previous steps just loaded (costs and token counts of the same day); docs/focus.md gives the
-- reason for every column. The default workspace (workspace_id NULL in the report) is the sub
-- account `default`, not dropped.
--
-- Quantities: a token cost line is per workspace, model, service tier, context window and token
-- type; the usage report counts each token type per API key, workspace, model, service tier and
-- context window. The usage is summed to the cost line's grain first (one row per workspace, model,
-- tier and window; web searches also per workspace), so each LEFT JOIN gives a cost line at most one
-- match: no cost line is repeated, the money is untouched.
WITH tokens_by_line AS (
  SELECT
    workspace_id,
    model,
    service_tier,
    context_window,
    SUM(uncached_input_tokens) AS uncached_input,
    SUM(cache_creation_ephemeral_1h_input_tokens) AS cache_write_1h,
    SUM(cache_creation_ephemeral_5m_input_tokens) AS cache_write_5m,
    SUM(cache_read_input_tokens) AS cache_read,
    SUM(output_tokens) AS output,
    SUM(web_search_requests) AS web_searches
  FROM `{org_dataset}.anthropic_usage_daily`
  WHERE usage_date = @date
  GROUP BY workspace_id, model, service_tier, context_window
),
searches_by_workspace AS (
  SELECT workspace_id, SUM(web_search_requests) AS web_searches
  FROM `{org_dataset}.anthropic_usage_daily`
  WHERE usage_date = @date
  GROUP BY workspace_id
),
counted AS (
  SELECT
    c.*,
    c.token_type IS NOT NULL AS token_line,
    c.cost_type = 'web_search' AS search_line,
    CASE
      WHEN c.cost_type = 'web_search' THEN IF(c.model IS NULL, s.web_searches, t.web_searches)
      WHEN c.token_type = 'uncached_input_tokens' THEN t.uncached_input
      WHEN c.token_type = 'cache_creation.ephemeral_1h_input_tokens' THEN t.cache_write_1h
      WHEN c.token_type = 'cache_creation.ephemeral_5m_input_tokens' THEN t.cache_write_5m
      WHEN c.token_type = 'cache_read_input_tokens' THEN t.cache_read
      WHEN c.token_type = 'output_tokens' THEN t.output
    END AS line_count
  FROM `{org_dataset}.anthropic_costs_daily` AS c
  -- NULL keys (the default workspace, a line without tier or window) match NULL keys; ids are never
  -- empty strings
  LEFT JOIN tokens_by_line AS t
    ON IFNULL(t.workspace_id, '') = IFNULL(c.workspace_id, '')
    AND t.model = c.model
    AND IFNULL(t.service_tier, '') = IFNULL(c.service_tier, '')
    AND IFNULL(t.context_window, '') = IFNULL(c.context_window, '')
  -- a web search line without a model: the workspace's searches over every model
  LEFT JOIN searches_by_workspace AS s
    ON IFNULL(s.workspace_id, '') = IFNULL(c.workspace_id, '')
    AND c.cost_type = 'web_search'
    AND c.model IS NULL
  WHERE c.usage_date = @date
),
quantified AS (
  SELECT
    *,
    -- what the line counts (tokens, or web searches); NULL when it counts nothing the usage report
    -- has (code execution, ...) or the report has no counterpart (no row, or nothing counted for a
    -- charged line): then it stays one unit of its line
    IF((token_line OR search_line) AND line_count IS NOT NULL AND (line_count > 0 OR amount = 0), line_count, NULL)
      AS counted_quantity
  FROM counted
),
-- PricingQuantity = quantity_count / quantity_per: the count per 1000, or one unit of the line
sized AS (
  SELECT
    *,
    CASE WHEN counted_quantity IS NULL THEN 'Units' WHEN search_line THEN 'Requests' ELSE 'Tokens' END
      AS consumed_unit,
    IFNULL(counted_quantity, 1) AS quantity_count,
    IF(counted_quantity IS NULL, 1, 1000) AS quantity_per
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
  -- the cost report names no account: the CloudAct org stands for the Anthropic organization its
  -- admin key belongs to (one per integration)
  @org_slug AS BillingAccountId,
  @org_slug AS BillingAccountName,
  'Organization' AS BillingAccountType,
  currency AS BillingCurrency,
  -- Anthropic invoices by calendar month
  TIMESTAMP(DATE_TRUNC(usage_date, MONTH)) AS BillingPeriodStart,
  TIMESTAMP(DATE_ADD(DATE_TRUNC(usage_date, MONTH), INTERVAL 1 MONTH)) AS BillingPeriodEnd,
  TIMESTAMP(usage_date) AS ChargePeriodStart,
  TIMESTAMP(DATE_ADD(usage_date, INTERVAL 1 DAY)) AS ChargePeriodEnd,
  'Usage' AS ChargeCategory,
  CAST(NULL AS STRING) AS ChargeClass,
  IFNULL(description, 'Anthropic usage') AS ChargeDescription,
  'Usage-Based' AS ChargeFrequency,
  CONCAT(@org_slug, '-', FORMAT_DATE('%Y%m', usage_date)) AS InvoiceId,
  'Anthropic' AS InvoiceIssuerName,
  'Anthropic' AS ProviderName,
  'Anthropic' AS PublisherName,
  -- priced per 1000 tokens or per 1000 searches (FOCUS unit format `<quantity> <unit>`; Anthropic
  -- prices web search per 1,000), the quantity exact (3 decimals)
  pricing_quantity AS PricingQuantity,
  IF(counted_quantity IS NULL, 'Units', CONCAT('1000 ', consumed_unit)) AS PricingUnit,
  'Standard' AS PricingCategory,
  IF(counted_quantity IS NULL, CAST(1 AS NUMERIC), CAST(counted_quantity AS NUMERIC)) AS ConsumedQuantity,
  consumed_unit AS ConsumedUnit,
  -- ListCost / PricingQuantity rounded half away from zero to 18 decimals (0 for nothing counted at
  -- no cost), so that ListUnitPrice x PricingQuantity gives back ListCost within 1e-18 per pricing unit
  IF(quantity_count = 0, CAST(0 AS BIGNUMERIC),
    CAST(price_nanos AS BIGNUMERIC)
    + CAST(ROUND(CAST(amount * quantity_per - price_nanos * quantity_count AS BIGNUMERIC) / quantity_count, 18)
      AS BIGNUMERIC)) AS ListUnitPrice,
  'AI and Machine Learning' AS ServiceCategory,
  'Generative AI' AS ServiceSubcategory,
  'Claude API' AS ServiceName,
  IFNULL(CONCAT(model, ':', token_type), IFNULL(cost_type, 'unknown')) AS SkuId,
  IFNULL(workspace_id, 'default') AS SubAccountId,
  IFNULL(workspace_id, 'Default Workspace') AS SubAccountName,
  'Workspace' AS SubAccountType,
  CAST(NULL AS STRING) AS RegionId,
  CAST(NULL AS STRING) AS RegionName,
  CAST(NULL AS STRING) AS AvailabilityZone,
  CAST(NULL AS STRING) AS Tags,
  usage_date AS x_ChargeDate,
  'anthropic' AS x_Provider,
  CAST(NULL AS STRING) AS x_ServiceId,
  cost_type AS x_CostType,
  model AS x_Model,
  token_type AS x_TokenType,
  service_tier AS x_ServiceTier,
  context_window AS x_ContextWindow,
  FORMAT_DATE('%Y%m', usage_date) AS x_InvoiceMonth,
  fetched_at AS x_SourceExportTime,
  source_rows AS x_SourceRows,
  @run_id AS x_RunId,
  -- a token or web search line the usage report has no count for: the run warns (gcp.bq_etl
  -- `warning_column`)
  IF((token_line OR search_line) AND counted_quantity IS NULL,
    CONCAT(IFNULL(description, IFNULL(cost_type, 'cost line')), ' (workspace ', IFNULL(workspace_id, 'default'), ')'),
    NULL) AS x_UnmatchedUsage
FROM priced
