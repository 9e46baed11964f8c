-- wrk.lua: the requests of the read benchmark, and a tally of what came back.
--
--   wrk -s bench/wrk.lua URL -- MODE PATH_PREFIX N
--
-- MODE hot:     PATH_PREFIX itself, every time
--      random:  PATH_PREFIX .. k .. "/progress", k uniform in 1..N
--      unknown: PATH_PREFIX .. k .. "/progress" for ids that do not exist
--      revalidate: PATH_PREFIX itself, with If-None-Match: N (an ETag)
-- done() prints one line: RESULT key=value ..., read by bench/run.

local mode, prefix, n, tag
counts = {}	-- a global: done() reads it from each thread
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	mode = args[1] or "hot"
	prefix = args[2] or "/"
	n = tonumber(args[3] or "1")
	tag = args[3]
	-- Each thread its own sequence.
	math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
	if mode == "hot" then
		wrk.path = prefix
	end
end

function request()
	if mode == "hot" then
		return wrk.format(nil, prefix)
	end
	if mode == "revalidate" then
		return wrk.format(nil, prefix, { ["If-None-Match"] = tag })
	end
	return wrk.format(nil, prefix .. math.random(1, n) .. "/progress")
end

function response(status, headers, body)
	counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		local c = t:get("counts")
		for status, k in pairs(c) do
			total[status] = (total[status] or 0) + k
		end
	end
	local e = summary.errors
	local line = string.format(
	    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d" ..
	    " err_connect=%d err_read=%d err_write=%d err_timeout=%d",
	    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
	    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
	    e.connect, e.read, e.write, e.timeout)
	for status, k in pairs(total) do
		line = line .. string.format(" status_%d=%d", status, k)
	end
	io.write(line .. "\n")
end
