-- How many source rows landed for the week's last day.
-- Parameters: @check_date DATE (the Wednesday before the week's Thursday).
-- Returns one row with one INT64 column, return_value; 0 means "not landed yet".
SELECT COUNT(*) AS return_value
FROM {{source}}
WHERE event_date = @check_date
