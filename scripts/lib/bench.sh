# shellcheck shell=bash
# The benchmark: three boots of the bench kernel without a TPM, run by
# ima_bench in the guest; its samples are summarized here (min, median and
# max of every figure over the repeated runs), printed as a table, written
# as CSV and JSON and plotted with gnuplot.

BENCH_VARIANT=bench
BENCH_MEMORY=3G
# shellcheck disable=SC2034 # used in scripts/ima-staging
{
	# Longer lists are filled outside IMA's digest table (ima_bench
	# --hashed-max). Its lookups cost the same at any size: every list is
	# filled with hashed records.
	BENCH_HASHED_MAX=1000000
	# Longer lists are not read (ima_bench --read-max). Reads resume where
	# the last one stopped, so reading is linear: 10^6 records take seconds.
	BENCH_READ_MAX=1000000
	# Defaults of the options.
	BENCH_LENGTHS=1000,10000,100000,1000000
	BENCH_REPEAT=5
	BENCH_TIMEOUT=5400
}

# bench_boot NAME TIMEOUT APPEND ARGS...: one boot running ima_bench ARGS.
bench_boot() {
	local name=$1 timeout=$2 append=$3
	shift 3
	say "$name: booting $BENCH_VARIANT kernel without a TPM ($VM_ACCEL, $BENCH_MEMORY, timeout $timeout s, console: $RUN_DIR/$name.console.log)"
	vm_boot "$name" "$BENCH_VARIANT" "$VM_ACCEL" "$timeout" "$append" 1 cmd \
		"$GUEST_TEST_DIR/ima_bench" "$@"
	vm_check "$name" "$timeout" || die "bench boot $name failed (logs: $RUN_DIR)"
	[[ "$(guest_exit_status "$name")" == 0 ]] ||
		die "ima_bench failed in boot $name (logs: $RUN_DIR/$name.ktap.log)"
	tr -d '\r' <"$RUN_DIR/$name.ktap.log" | sed -n "s/^sample,/$name,/p" >>"$BENCH_SAMPLES"
}

# Summary CSV of the samples: boot,metric,length,runs,min,median,max.
bench_summarize() {
	echo "boot,metric,length,runs,min,median,max"
	sort -t, -k1,1 -k2,2 -k3,3n -k5,5g "$1" | awk -F, '
		function flush() {
			if (n == 0)
				return
			med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			printf "%s,%d,%g,%g,%g\n", key, n, v[1], med, v[n]
			n = 0
		}
		{
			k = $1 "," $2 "," $3
			if (k != key)
				flush()
			key = k
			v[++n] = $5
		}
		END { flush() }'
}

# The summary as JSON: an array of objects, one per figure.
bench_json() {
	awk -F, -v machine="$1" -v date="$2" '
		BEGIN { printf "{\n  \"date\": \"%s\",\n  \"machine\": \"%s\",\n  \"figures\": [", date, machine }
		NR > 1 {
			printf "%s\n    {\"boot\": \"%s\", \"metric\": \"%s\", \"length\": %s, \"runs\": %s, \"min\": %s, \"median\": %s, \"max\": %s}",
				(NR > 2 ? "," : ""), $1, $2, $3, $4, $5, $6, $7
		}
		END { printf "\n  ]\n}\n" }' "$3"
}

# bench_get SUMMARY BOOT METRIC LENGTH FIELD: one number (min|median|max).
bench_get() {
	awk -F, -v b="$2" -v m="$3" -v l="$4" -v f="$5" '
		$1 == b && $2 == m && $3 == l {
			print (f == "min") ? $5 : (f == "max") ? $7 : $6
			found = 1
		}
		END { if (!found) print "nan" }' "$1"
}

# "median (min-max)" of a figure.
bench_cell() {
	local lo mid hi
	lo=$(bench_get "$@" min)
	mid=$(bench_get "$@" median)
	hi=$(bench_get "$@" max)
	LC_ALL=C printf '%.4g (%.4g-%.4g)' "$mid" "$lo" "$hi"
}

bench_ratio() {
	LC_ALL=C awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a && b == b) printf "%.3g", a / b; else print "nan" }'
}

bench_percent() {
	LC_ALL=C awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a == a && b == b) printf "%.0f %%", 100 * a / b; else print "nan" }'
}

bench_lengths() {
	awk -F, 'NR > 1 && $1 == "hold" && $2 == "hold_append_us" { print $3 }' "$1" | sort -n -u
}

# bench_amortized SAMPLES BOOT: returned / held over every deletion of a boot.
bench_amortized() {
	LC_ALL=C awk -F, -v b="$2" '
		$1 == b && $2 == "mem_deletion_held_bytes" { held += $5 }
		$1 == b && $2 == "mem_deletion_returned_bytes" { returned += $5 }
		END { if (held > 0) printf "%.1f %%", 100 * returned / held; else print "nan" }' "$1"
}

# bench_batch_spread SAMPLES LENGTH: median over the runs of the largest of a
# run's three append batches over its smallest.
bench_batch_spread() {
	LC_ALL=C awk -F, -v l="$2" '
		$1 == "hold" && $3 == l && $2 ~ /^hold_append(_batch[23])?_us$/ {
			run = $4
			if (!(run in lo) || $5 < lo[run]) lo[run] = $5
			if (!(run in hi) || $5 > hi[run]) hi[run] = $5
		}
		END {
			n = 0
			for (run in lo)
				if (lo[run] > 0)
					r[++n] = hi[run] / lo[run]
			if (n == 0) { print "nan"; exit }
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && r[j - 1] > r[j]; j--) {
					t = r[j]; r[j] = r[j - 1]; r[j - 1] = t
				}
			printf "%.3g", (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
		}' "$1"
}

# The table of the README, in Markdown: bench_table SUMMARY SAMPLES.
bench_table() {
	local s=$1 samples=$2 l unit
	echo "Lock hold time of ima_extend_list_mutex in µs, median (min-max) of the runs; ratio = median / median of one append at that length:"
	echo
	echo "| records | append | A | D | N (longest of its 2 locked sections) | walk to the N-th record under the lock (alternative) | A / append | D / append | N / append | alternative / N |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	while read -r l; do
		unit=$(bench_get "$s" hold hold_append_us "$l" median)
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$l" \
			"$(bench_cell "$s" hold hold_append_us "$l")" \
			"$(bench_cell "$s" hold hold_A_us "$l")" \
			"$(bench_cell "$s" hold hold_D_us "$l")" \
			"$(bench_cell "$s" hold hold_N_us "$l")" \
			"$(bench_cell "$s" hold hold_walk_locked_us "$l")" \
			"$(bench_ratio "$(bench_get "$s" hold hold_A_us "$l" median)" "$unit")" \
			"$(bench_ratio "$(bench_get "$s" hold hold_D_us "$l" median)" "$unit")" \
			"$(bench_ratio "$(bench_get "$s" hold hold_N_us "$l" median)" "$unit")" \
			"$(bench_ratio "$(bench_get "$s" hold hold_walk_locked_us "$l" median)" \
				"$(bench_get "$s" hold hold_N_us "$l" median)")"
	done < <(bench_lengths "$s")
	echo
	echo "Memory (Slab + VmallocUsed), bytes per record, and throughput in records per second:"
	echo
	echo "| records | held | returned by D | returned by D, ima_flush_htable | returned by N | D / held | D with ima_flush_htable / held | N / held | plain read | A + read + D | A + read + D / plain read |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	while read -r l; do
		# Lengths with neither memory nor throughput figures: no row.
		[[ "$(bench_get "$s" hold mem_held_bytes_per_record "$l" median)" != nan ||
			"$(bench_get "$s" hold read_plain_rps "$l" median)" != nan ]] || continue
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$l" \
			"$(bench_cell "$s" hold mem_held_bytes_per_record "$l")" \
			"$(bench_cell "$s" hold mem_returned_D_bytes_per_record "$l")" \
			"$(bench_cell "$s" flush mem_returned_D_flush_bytes_per_record "$l")" \
			"$(bench_cell "$s" hold mem_returned_N_bytes_per_record "$l")" \
			"$(bench_percent "$(bench_get "$s" hold mem_returned_D_bytes_per_record "$l" median)" \
				"$(bench_get "$s" hold mem_held_bytes_per_record "$l" median)")" \
			"$(bench_percent "$(bench_get "$s" flush mem_returned_D_flush_bytes_per_record "$l" median)" \
				"$(bench_get "$s" flush mem_held_bytes_per_record "$l" median)")" \
			"$(bench_percent "$(bench_get "$s" hold mem_returned_N_bytes_per_record "$l" median)" \
				"$(bench_get "$s" hold mem_held_bytes_per_record "$l" median)")" \
			"$(bench_cell "$s" hold read_plain_rps "$l")" \
			"$(bench_cell "$s" hold stage_read_delete_rps "$l")" \
			"$(bench_ratio "$(bench_get "$s" hold stage_read_delete_rps "$l" median)" \
				"$(bench_get "$s" hold read_plain_rps "$l" median)")"
	done < <(bench_lengths "$s")
	echo
	local boot
	for boot in hold flush; do
		echo "Given back over all fills of the $boot boot (every deletion's bytes returned / bytes held, summed):" \
			"$(bench_amortized "$samples" "$boot")"
		echo
	done
	echo "Append hold time, µs: the first batch of each run, two more batches right after it (same list and table), and a batch that skips the digest table; the spread is the largest batch over the smallest:"
	echo
	echo "| records | first batch | second | third | spread of the three, median of the runs | spread of first batches over the runs | without the digest table |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	while read -r l; do
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$l" \
			"$(bench_cell "$s" hold hold_append_us "$l")" \
			"$(bench_cell "$s" hold hold_append_batch2_us "$l")" \
			"$(bench_cell "$s" hold hold_append_batch3_us "$l")" \
			"$(bench_batch_spread "$samples" "$l")" \
			"$(bench_ratio "$(bench_get "$s" hold hold_append_us "$l" max)" \
				"$(bench_get "$s" hold hold_append_us "$l" min)")" \
			"$(bench_cell "$s" hold hold_append_unhashed_us "$l")"
	done < <(bench_lengths "$s")
	echo
	local shortest longest
	shortest=$(bench_lengths "$s" | head -n 1)
	longest=$(bench_lengths "$s" | tail -n 1)
	echo "Plain read at $longest records / at $shortest records (records per second, medians):" \
		"$(bench_ratio "$(bench_get "$s" hold read_plain_rps "$longest" median)" \
			"$(bench_get "$s" hold read_plain_rps "$shortest" median)")"
	echo
	local p k
	p=$(awk -F, 'NR > 1 && $1 == "latency" { print $3; exit }' "$s")
	echo "Latency of one measurement added from user space (open of a new file on /measure), µs, $p records in the list; median (min-max) of the rounds:"
	echo
	echo "| meanwhile on the other CPU | p50 | p99 | max | p99 / p99 with nothing | longest wait for the lock | contended additions |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for k in none reading staging walk_locked; do
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$k" \
			"$(bench_cell "$s" latency "latency_${k}_p50_us" "$p")" \
			"$(bench_cell "$s" latency "latency_${k}_p99_us" "$p")" \
			"$(bench_cell "$s" latency "latency_${k}_max_us" "$p")" \
			"$(bench_ratio "$(bench_get "$s" latency "latency_${k}_p99_us" "$p" median)" \
				"$(bench_get "$s" latency latency_none_p99_us "$p" median)")" \
			"$(bench_cell "$s" latency "latency_${k}_lock_wait_max_us" "$p")" \
			"$(bench_cell "$s" latency "latency_${k}_lock_contentions" "$p")"
	done
}

# Hold time against list length, both designs, median with min-max bars.
bench_plot() {
	local s=$1 png=$2 dat m
	dat=$(dirname "$png")/plot.dat
	for m in hold_append_us hold_A_us hold_D_us hold_N_us hold_walk_locked_us; do
		printf '# %s\n' "$m"
		awk -F, -v m="$m" '$1 == "hold" && $2 == m { print $3, $6, $5, $7 }' "$s"
		printf '\n\n'
	done >"$dat"
	gnuplot <<EOF
set terminal pngcairo size 900,600 font ",11"
set output "$png"
set title "ima\\\_extend\\\_list\\\_mutex hold time (lock\\\_stat), 2 cores, QEMU TCG"
set xlabel "records in the list"
set ylabel "hold time (µs)"
set logscale xy
set format x "10^{%L}"
set format y "10^{%L}"
set key top left Left reverse opaque
set grid
plot "$dat" index 0 using 1:2:3:4 with yerrorlines title "one append", \\
     "$dat" index 1 using 1:2:3:4 with yerrorlines title "A (stage)", \\
     "$dat" index 2 using 1:2:3:4 with yerrorlines title "D (delete staged)", \\
     "$dat" index 3 using 1:2:3:4 with yerrorlines title "N (locked sections)", \\
     "$dat" index 4 using 1:2:3:4 with yerrorlines title "alternative: walk to N-th record under the lock"
EOF
}
