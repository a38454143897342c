-- The source's watermark for one usage day: billing rows for a day keep arriving for days, each
-- export batch with a later export_time, so an unchanged MAX(export_time) means nothing new arrived.
-- Reads two columns only, far cheaper than the day's aggregate.
SELECT MAX(export_time) AS watermark
FROM `{source}`
WHERE usage_start_time >= TIMESTAMP(@date)
  AND usage_start_time < TIMESTAMP(DATE_ADD(@date, INTERVAL 1 DAY))
