-- Daily GCP cost rollup from the standard Cloud Billing export (BigQuery dialect).
-- The FROM table is the org's billing export table id, validated on the server and never taken
-- from a request; the day is bound as the query parameter "date".
SELECT
  DATE(usage_start_time) AS usage_date,
  service.id AS service_id,
  service.description AS service_description,
  sku.id AS sku_id,
  sku.description AS sku_description,
  project.id AS project_id,
  project.name AS project_name,
  cost_type,
  currency,
  invoice.month AS invoice_month,
  usage.pricing_unit AS pricing_unit,
  SUM(cost) AS cost,
  -- credits are a repeated record of negative amounts: summing them per row in a subquery keeps
  -- one output value per cost row (a join on UNNEST would repeat the row's cost per credit).
  SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS credits,
  SUM(cost_at_list) AS cost_at_list,
  SUM(usage.amount_in_pricing_units) AS usage_amount_in_pricing_units,
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
  project_name, cost_type, currency, invoice_month, pricing_unit
