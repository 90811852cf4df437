# R's mirai on one group of the side-by-side workloads of `npm run bench` (bench/compare.ts).
# bench/compare/ours.ts runs the same workloads on this package; keep the two in step.
#
#   R_LIBS=~/.cache/mirai-bench/R-lib Rscript bench/r/workloads.R mode=dispatcher transport=ipc
#
# mode: dispatcher | none (dispatcher = FALSE). transport: ipc (daemons(2): start-up, round
# trips, tiny-task throughput, 1 MiB payloads, everywhere) | tcp | tls (daemons(url =
# "tcp://127.0.0.1:0" or "tls+tcp://127.0.0.1:0") with zero-config TLS, then launch_local(2):
# round trips and throughput). Counts come as key=value arguments (defaults below).
# Prints one JSON line per metric: {"system":"r","mode":..,"transport":..,"metric":..,"value":..}.
# A workload that fails prints {"metric":..,"error":..} and the others still run.
suppressMessages(library(mirai))

kv <- strsplit(commandArgs(trailingOnly = TRUE), "=", fixed = TRUE)
opt <- stats::setNames(lapply(kv, `[`, 2L), vapply(kv, `[`, "", 1L))
num <- function(k, def) if (is.null(opt[[k]])) def else as.numeric(opt[[k]])
mode <- if (is.null(opt$mode)) "dispatcher" else opt$mode
transport <- if (is.null(opt$transport)) "ipc" else opt$transport
stopifnot(mode %in% c("dispatcher", "none"), transport %in% c("ipc", "tcp", "tls"))
dispatcher <- mode == "dispatcher"

starts <- num("starts", 3)
tasks <- num("tasks", 10000)
warm_tasks <- num("warm_tasks", 1000)
trips <- num("trips", 2000)
warm_trips <- num("warm_trips", 200)
budget <- num("budget", 20) # seconds, for one round-trip or throughput workload
payload_trips <- num("payload_trips", 200)
payload_warm <- num("payload_warm", 10)
ev_calls <- num("everywhere", 200)
ev_warm <- num("everywhere_warm", 20)

# Seconds as a double: Sys.time() has microsecond resolution on Linux (nanonext's mclock() has ms).
now <- function() unclass(Sys.time())

json_num <- function(v) if (length(v) != 1L || !is.finite(v)) "null" else sprintf("%.7g", v)
json_str <- function(s) sprintf('"%s"', gsub('(["\\\\])', "\\\\\\1", gsub("[[:cntrl:]]", " ", s)))
emit <- function(metric, value = NULL, n = NULL, note = NULL, error = NULL) {
  fields <- c(
    sprintf('"system":"r","mode":"%s","transport":"%s","metric":"%s"', mode, transport, metric),
    if (!is.null(value)) sprintf('"value":%s', json_num(value)),
    if (!is.null(n)) sprintf('"n":%d', as.integer(n)),
    if (!is.null(note)) sprintf('"note":%s', json_str(note)),
    if (!is.null(error)) sprintf('"error":%s', json_str(error))
  )
  cat("{", paste(fields, collapse = ","), "}\n", sep = "")
  flush(stdout())
}

# Nearest rank, as bench/lib/stats.ts percentile().
pct <- function(x, p) sort(x)[min(length(x), max(1L, ceiling(p / 100 * length(x))))]
check <- function(ok, what) if (!isTRUE(ok)) stop("wrong result: ", what, call. = FALSE)

guard <- function(metrics, expr) {
  tryCatch(expr, error = function(e) for (m in metrics) emit(m, error = conditionMessage(e)))
}

wait_connected <- function(n, timeout = 30) {
  deadline <- now() + timeout
  while (status()$connections < n) {
    if (now() > deadline) stop(sprintf("%d daemons did not connect within %d s", n, timeout), call. = FALSE)
    nanonext::msleep(5L)
  }
}

round_trips <- function(prefix) {
  for (i in seq_len(warm_trips)) mirai(x + 1, x = i)[]
  samples <- numeric(trips)
  k <- 0L
  deadline <- now() + budget
  for (i in seq_len(trips)) {
    s <- now()
    r <- mirai(x + 1, x = i)[]
    samples[i] <- now() - s
    check(identical(r, i + 1), sprintf("x + 1 with x = %d gave %s", i, format(r)))
    k <- i
    if (now() > deadline) break
  }
  us <- samples[seq_len(k)] * 1e6
  note <- if (k < trips) sprintf("%d of %d trips within the %g s budget", k, trips, budget)
  emit(paste0(prefix, "rtt.median"), stats::median(us), n = k, note = note)
  emit(paste0(prefix, "rtt.p99"), pct(us, 99), n = k, note = note)
}

throughput <- function(prefix) {
  for (n in c(warm_tasks, tasks)) {
    s <- now()
    ms <- lapply(seq_len(n), function(i) mirai(x + 1, x = i))
    out <- collect_mirai(ms)
    dt <- now() - s
    total <- sum(vapply(out, function(v) if (is.numeric(v)) v else NA_real_, 0))
    check(identical(total, n * (n + 1) / 2 + n), sprintf("the %d results sum to %s", n, format(total)))
  }
  emit(paste0(prefix, "tput"), tasks / dt, n = tasks)
}

payload <- function() {
  a <- as.raw(sample.int(256L, 1048576L, replace = TRUE) - 1L)
  last <- length(a)
  for (i in seq_len(payload_warm)) mirai(a, a = a)[]
  s <- now()
  for (i in seq_len(payload_trips)) {
    b <- mirai(a, a = a)[]
    check(is.raw(b) && length(b) == last && b[1L] == a[1L] && b[last] == a[last], "the 1 MiB raw vector came back changed")
  }
  emit("mibps", payload_trips / (now() - s), n = payload_trips)
}

everywhere_calls <- function() {
  one <- function(i) {
    r <- collect_mirai(everywhere({
      benchValue <- x
      x
    }, x = i))
    check(length(r) == 2L && all(vapply(r, identical, NA, y = i)), sprintf("everywhere gave %s", format(r)))
  }
  for (i in seq_len(ev_warm)) one(i)
  samples <- numeric(ev_calls)
  for (i in seq_len(ev_calls)) {
    s <- now()
    one(i)
    samples[i] <- now() - s
  }
  us <- samples * 1e6
  emit("everywhere.median", stats::median(us), n = ev_calls)
  emit("everywhere.p99", pct(us, 99), n = ev_calls)
}

emit("version", note = sprintf("mirai %s, nanonext %s, %s", utils::packageVersion("mirai"), utils::packageVersion("nanonext"), R.version.string))

if (transport == "ipc") {
  guard("connect", {
    ms <- numeric(starts)
    for (k in seq_len(starts)) {
      if (k > 1L) daemons(0)
      s <- now()
      daemons(2, dispatcher = dispatcher) # returns once both daemons are connected
      ms[k] <- (now() - s) * 1000
      check(status()$connections == 2L, sprintf("%d connections after daemons(2)", status()$connections))
    }
    emit("connect", stats::median(ms), n = starts)
  })
  if (status()$connections == 2L) {
    guard(c("rtt.median", "rtt.p99"), round_trips(""))
    guard("tput", throughput(""))
    guard("mibps", payload())
    guard(c("everywhere.median", "everywhere.p99"), everywhere_calls())
  }
} else {
  url <- if (transport == "tls") "tls+tcp://127.0.0.1:0" else "tcp://127.0.0.1:0"
  prefix <- paste0(transport, ".")
  ok <- guard(paste0(prefix, c("rtt.median", "rtt.p99", "tput")), {
    daemons(url = url, dispatcher = dispatcher) # zero-config TLS: a fresh self-signed certificate
    launch_local(2)
    wait_connected(2)
    TRUE
  })
  if (isTRUE(ok)) {
    guard(paste0(prefix, c("rtt.median", "rtt.p99")), round_trips(prefix))
    guard(paste0(prefix, "tput"), throughput(prefix))
  }
}
daemons(0)
