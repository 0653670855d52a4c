-- Week-over-week report of the loaded weeks @since .. @until (DATEs, week names).
-- One row per loaded week: days loaded, events, user-days, amount, and the change in events
-- from the previous loaded week (NULL for the first one).
WITH weeks AS (
  SELECT
    week,
    COUNT(DISTINCT event_date) AS days,
    SUM(events) AS events,
    SUM(users) AS user_days,
    SUM(amount) AS amount
  FROM {{target}}
  WHERE week BETWEEN @since AND @until
  GROUP BY week
)
SELECT
  week,
  days,
  events,
  user_days,
  amount,
  events - LAG(events) OVER (ORDER BY week) AS events_change,
  ROUND(SAFE_DIVIDE(events - LAG(events) OVER (ORDER BY week), LAG(events) OVER (ORDER BY week)), 4)
    AS events_change_ratio
FROM weeks
ORDER BY week
