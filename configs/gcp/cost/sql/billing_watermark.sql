-- The source's watermark for one usage day: billing rows for a day keep arriving for days, each
-- export batch with a later export_time, so an unchanged MAX(export_time) means nothing new arrived.
-- Reads two columns only, far cheaper than the day's aggregate.
SELECT MAX(export_time) AS watermark
FROM `{source}`
-- The export is partitioned by export day (_PARTITIONTIME): reading only the partitions that can
-- hold the day's rows keeps the bytes a run is billed for flat however long the history is. A day's
-- rows are exported from the day itself (a day before, for safety at the day's edge) until
-- source_window_days after it; the pipeline's invoice-close run widens the window to the month's close.
WHERE _PARTITIONTIME BETWEEN TIMESTAMP(DATE_SUB(@date, INTERVAL 1 DAY))
    AND TIMESTAMP(DATE_ADD(@date, INTERVAL @source_window_days DAY))
  AND usage_start_time >= TIMESTAMP(@date)
  AND usage_start_time < TIMESTAMP(DATE_ADD(@date, INTERVAL 1 DAY))
