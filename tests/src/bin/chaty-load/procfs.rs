//! CPU time and memory of a process, from Linux's /proc.

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// Peak resident set size (high-water mark), KiB.
    pub hwm_kib: u64,
}

/// Reads `/proc/<pid>/{stat,status}`; `None` for `self` is `/proc/self`.
pub fn sample(pid: Option<u32>) -> Option<Sample> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_string(),
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    Some(Sample {
        cpu_ticks: cpu_ticks(&stat)?,
        rss_kib: status_kib(&status, "VmRSS:").unwrap_or(0),
        hwm_kib: status_kib(&status, "VmHWM:").unwrap_or(0),
    })
}

/// The sum of several processes' readings (a cluster's nodes); `None` when
/// there are none or one cannot be read.
pub fn sample_sum(pids: &[u32]) -> Option<Sample> {
    if pids.is_empty() {
        return None;
    }
    let mut sum = Sample::default();
    for &pid in pids {
        let s = sample(Some(pid))?;
        sum.cpu_ticks += s.cpu_ticks;
        sum.rss_kib += s.rss_kib;
        sum.hwm_kib += s.hwm_kib;
    }
    Some(sum)
}

/// CPU clock ticks of `root` and every live descendant (e.g. a postmaster and
/// its backends): utime + stime + cutime + cstime of each, so a child that
/// exited and was reaped still counts, through its parent. `None` when `root`
/// is gone.
pub fn tree_ticks(root: u32) -> Option<u64> {
    let mut procs: Vec<(u32, u32, u64)> = Vec::new(); // pid, ppid, ticks
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((ppid, ticks)) = ppid_and_all_ticks(&stat) {
            procs.push((pid, ppid, ticks));
        }
    }
    if !procs.iter().any(|p| p.0 == root) {
        return None;
    }
    let mut members = vec![root];
    let mut total = 0;
    let mut i = 0;
    while i < members.len() {
        let parent = members[i];
        for &(pid, ppid, ticks) in &procs {
            if pid == parent {
                total += ticks;
            }
            if ppid == parent && pid != parent {
                members.push(pid);
            }
        }
        i += 1;
    }
    Some(total)
}

/// ppid and utime + stime + cutime + cstime from a `stat` line.
fn ppid_and_all_ticks(stat: &str) -> Option<(u32, u64)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ppid: u32 = fields.get(1)?.parse().ok()?;
    let mut ticks = 0;
    for k in 11..=14 {
        ticks += fields.get(k)?.parse::<u64>().ok()?;
    }
    Some((ppid, ticks))
}

/// utime + stime from a `stat` line. The command name may contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15), so utime is
    // the 12th field here (index 11).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Busy and total clock ticks of each CPU (`cpu0`, `cpu1`, …) from /proc/stat.
pub fn cpu_ticks_per_core() -> Vec<(u64, u64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    parse_cores(&stat)
}

fn parse_cores(stat: &str) -> Vec<(u64, u64)> {
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// Per-core busy percentage between two readings.
pub fn busy_pct(before: &[(u64, u64)], after: &[(u64, u64)]) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|(&(b0, t0), &(b1, t1))| {
            let total = t1.saturating_sub(t0);
            if total == 0 { 0.0 } else { (1000.0 * b1.saturating_sub(b0) as f64 / total as f64).round() / 10.0 }
        })
        .collect()
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "123 (my (odd) name) S 1 123 123 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(cpu_ticks(stat), Some(300));
        assert_eq!(ppid_and_all_ticks(stat), Some((1, 300)));
        let me = std::process::id();
        assert!(tree_ticks(me).is_some());
        assert!(sample_sum(&[me, me]).is_some_and(|s| s.rss_kib > 0));
        assert!(sample_sum(&[]).is_none());
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert!(sample(None).is_some_and(|s| s.rss_kib > 0));
        let cores =
            parse_cores("cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 10 0 10 70 10 0 0 0 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\nintr 5\n");
        assert_eq!(cores, vec![(20, 100), (6, 8)]);
        assert_eq!(busy_pct(&[(20, 100)], &[(70, 200)]), vec![50.0]);
    }
}
