-- wrk -s bench/wrk_events.lua URL -- ROUND rest|lineage (ROUND: 8 hex digits): one run event per request,
-- every run new: a START, then its completion (with one output asset). The two events
-- of a run may travel on different connections, so they can arrive in either order,
-- as from a real scheduler. Ends with the summary line bench/ingest.py reads.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  round = args[1]  -- 8 hex digits, new for every round
  prefix = round .. "-" .. tid
  kind = args[2] or "rest"
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local function time_of(seconds)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", 1772323200 + seconds)  -- from 2026-03-01
end

local function rest_body(run, started)
  local common = string.format('"pipeline": "bench_%d", "external_run_id": "%s-%d"', run % 50, prefix, run)
  if started then
    return string.format('{%s, "status": "started", "event_time": "%s"}', common, time_of(run))
  end
  return string.format(
    '{%s, "status": "success", "event_time": "%s", "assets": [{"asset_key": "raw.t%d", "rows_inserted": %d}]}',
    common, time_of(run + 30), run % 100, run)
end

local function lineage_body(run, started)
  -- A UUID per run: the round's prefix, the thread and the run number.
  local run_id = string.format("%s-0000-4000-8%03x-%012x", round, tid % 4096, run)
  local dataset = string.format('{"namespace": "postgres://wh:5432", "name": "db.raw.t%d"', run % 100)
  local output
  if started then
    output = dataset .. "}"
  else
    output = string.format('%s, "outputFacets": {"outputStatistics": {"rowCount": %d, "size": %d}}}',
      dataset, run, run * 100)
  end
  return string.format(
    '{"eventType": "%s", "eventTime": "%s", "run": {"runId": "%s"}, '
    .. '"job": {"namespace": "bench", "name": "job_%d"}, "outputs": [%s], '
    .. '"producer": "https://example.com/bench", '
    .. '"schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}',
    started and "START" or "COMPLETE", time_of(started and run or run + 30),
    run_id, run % 50, output)
end

request = function()
  local run, started = math.floor(counter / 2), counter % 2 == 0
  counter = counter + 1
  local body = (kind == "lineage" and lineage_body or rest_body)(run, started)
  return wrk.format(nil, nil, nil, body)
end

-- The summary line (`done`) is bench/wrk_report.lua's.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "wrk_report.lua")
