-- Daily GCP cost rollup from the standard Cloud Billing export (BigQuery dialect).
-- The FROM table is the org's billing export table id, validated on the server and never taken
-- from a request; the day is bound as the query parameter "date".
SELECT
  DATE(usage_start_time) AS usage_date,
  billing_account_id,
  service.id AS service_id,
  service.description AS service_description,
  sku.id AS sku_id,
  sku.description AS sku_description,
  project.id AS project_id,
  project.name AS project_name,
  location.region AS region,
  location.zone AS zone,
  cost_type,
  currency,
  invoice.month AS invoice_month,
  usage.pricing_unit AS pricing_unit,
  usage.unit AS usage_unit,
  -- Money is summed as NUMERIC (exact, 9 decimal places), never as FLOAT64: a float sum depends on
  -- the order rows arrive in, so totals would differ between runs and between engines.
  SUM(CAST(cost AS NUMERIC)) AS cost,
  -- credits are a repeated record of negative amounts: summing them per row in a subquery keeps
  -- one output value per cost row (a join on UNNEST would repeat the row's cost per credit).
  SUM(IFNULL((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c), 0)) AS credits,
  -- the same credits split by kind (FOCUS keeps discounts on the row they discount and makes
  -- promotions and free tier separate Credit rows): credits = credits_discount + credits_promotion.
  SUM(IFNULL((SELECT SUM(IF(c.type IN ('PROMOTION', 'FREE_TIER'), 0, CAST(c.amount AS NUMERIC)))
    FROM UNNEST(credits) AS c), 0)) AS credits_discount,
  SUM(IFNULL((SELECT SUM(IF(c.type IN ('PROMOTION', 'FREE_TIER'), CAST(c.amount AS NUMERIC), 0))
    FROM UNNEST(credits) AS c), 0)) AS credits_promotion,
  -- the committed-use part of credits_discount: its presence makes a row's PricingCategory Committed
  SUM(IFNULL((SELECT SUM(IF(STARTS_WITH(c.type, 'COMMITTED_USAGE_DISCOUNT'), CAST(c.amount AS NUMERIC), 0))
    FROM UNNEST(credits) AS c), 0)) AS credits_committed,
  SUM(CAST(cost_at_list AS NUMERIC)) AS cost_at_list,
  SUM(CAST(usage.amount_in_pricing_units AS NUMERIC)) AS usage_amount_in_pricing_units,
  SUM(CAST(usage.amount AS NUMERIC)) AS usage_amount,
  -- resource labels as one JSON object; GCP allows only lowercase letters, digits, `_` and `-` in
  -- label keys and values, so the text needs no escaping
  CONCAT('{', IFNULL((SELECT STRING_AGG(CONCAT('"', l.key, '":"', l.value, '"'), ',' ORDER BY l.key)
    FROM UNNEST(labels) AS l), ''), '}') AS labels_json,
  MAX(export_time) AS source_export_time,
  COUNT(*) AS source_rows
FROM `{source}`
-- The export is partitioned by export day (_PARTITIONTIME): reading only the partitions that can
-- hold the day's rows keeps the bytes a run is billed for flat however long the history is. A day's
-- rows are exported from the day itself (a day before, for safety at the day's edge) until
-- source_window_days after it; the pipeline's invoice-close run widens the window to the month's close.
WHERE _PARTITIONTIME BETWEEN TIMESTAMP(DATE_SUB(@date, INTERVAL 1 DAY))
    AND TIMESTAMP(DATE_ADD(@date, INTERVAL @source_window_days DAY))
  AND usage_start_time >= TIMESTAMP(@date)
  AND usage_start_time < TIMESTAMP(DATE_ADD(@date, INTERVAL 1 DAY))
GROUP BY usage_date, service_id, service_description, sku_id, sku_description, project_id,
  project_name, cost_type, currency, invoice_month, pricing_unit, billing_account_id, region, zone, usage_unit, labels_json
