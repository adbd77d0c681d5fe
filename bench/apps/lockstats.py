"""What onspin's interposer saw in a run: the per-process statistics lines
it appends to ONSPIN_STATS_FILE at exit ("onspin[PID]: SECTION: key=value
..."), summed over the run's processes. A program whose locks onspin does not
serve shows it here: few served calls, or many calls to rwlocks and
spinlocks, which onspin counts and leaves to glibc."""


def read_stats(path):
    sums, oracles = {}, set()
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    for line in lines:
        head, _, rest = line.partition("]: ")
        section, _, pairs = rest.partition(": ")
        if not head.startswith("onspin["):
            continue
        for pair in pairs.split():
            key, _, value = pair.partition("=")
            if key == "oracle":
                if value != "unchosen":
                    oracles.add(value)
            elif value.isdigit():
                sums[(section, key)] = sums.get((section, key), 0) + int(value)

    def total(section, keys=None):
        return sum(v for (s, k), v in sums.items()
                   if s == section and (keys is None or k in keys or
                                        any(k.startswith(p) for p in keys)))

    return dict(
        oracle="+".join(sorted(oracles)) or "unchosen",
        served_mutex=total("served", ["mutex_calls"]),
        served_cond=total("served", ["cond_calls"]),
        left_to_glibc=total("left to glibc", ["mutex_calls_", "cond_calls_"]),
        not_replaced=total("not replaced"),
        futex_waits=total("slow paths", ["futex_waits"]),
        spin_acquired=total("slow paths", ["spin_acquired"]),
    )
