-- Load one week into the summary, idempotently: the week's rows are replaced, never duplicated.
-- Run the two statements in ONE transaction (Warehouse.script), so a failure leaves the
-- week's rows as they were.
-- Parameters (DATEs): @week (the Thursday naming the week), @week_start .. @week_end
-- (the Thursday..Wednesday the week covers).
DELETE FROM {{target}}
WHERE week = @week;

INSERT INTO {{target}} (week, event_date, event_type, events, users, amount)
SELECT
  @week AS week,
  event_date,
  event_type,
  COUNT(*) AS events,
  COUNT(DISTINCT user_id) AS users,
  SUM(amount) AS amount
FROM {{source}}
WHERE event_date BETWEEN @week_start AND @week_end
GROUP BY event_date, event_type;
