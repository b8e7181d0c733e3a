-- t/bench/wrk.lua: request shapes for t/bench/rest, chosen by env
-- BENCH_REQ: "minimal" (GET, nothing), "me" (GET with the Bearer token in
-- env TOKEN), "login" (POST /auth/login with env USERNAME/PASSWORD).
-- done() prints one RESULT line with requests/s, p50/p99 and errors.
local req = os.getenv("BENCH_REQ") or "minimal"
if req == "me" then
	wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
elseif req == "login" then
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	wrk.body = string.format('{"username":"%s","password":"%s"}',
	    os.getenv("USERNAME") or "", os.getenv("PASSWORD") or "")
end

done = function(summary, latency, requests)
	local secs = summary.duration / 1e6
	local e = summary.errors
	io.write(string.format(
	    "RESULT req=%s requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f " ..
	    "non2xx=%d sock_errors=%d timeouts=%d\n", req, summary.requests,
	    summary.requests / secs, latency:percentile(50) / 1000,
	    latency:percentile(99) / 1000, e.status,
	    e.connect + e.read + e.write, e.timeout))
end
