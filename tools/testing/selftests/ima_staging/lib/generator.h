/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Child processes that repeat some work until the parent stops them, such
 * as creating measurements while a test stages and deletes records.
 */
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "ima/sys.h"

namespace ima {

/*
 * A forked child that runs @step again and again until stop(), then sends
 * the text @report returns to the parent. Create these children before
 * opening measurement files: a child inherits the parent's descriptors.
 */
class LoopingChild {
public:
	LoopingChild(const std::function<void()> &step, const std::function<std::string()> &report);
	LoopingChild(LoopingChild &&) = default;
	LoopingChild &operator=(LoopingChild &&) = default;

	/* Holds the child still (SIGSTOP) and lets it go on (SIGCONT). */
	void pause();
	void resume();

	/*
	 * Ends the loop after the running step and returns the report. Throws
	 * if the child failed (a step threw) or does not report.
	 */
	std::string stop();

private:
	/*
	 * A byte on this pipe stops the child, not the end of file: children
	 * forked later inherit the write end too. The parent keeps the read
	 * end open, so that stopping a child that already exited raises no
	 * SIGPIPE.
	 */
	Pipe stop_;
	UniqueFd report_;
	std::optional<ChildProcess> child_;
};

/*
 * Counters in memory shared with the children forked while it exists: a
 * child's additions are seen by the parent at once.
 */
class SharedCounters {
public:
	explicit SharedCounters(std::size_t count);
	SharedCounters(SharedCounters &&other) noexcept;
	SharedCounters &operator=(SharedCounters &&other) noexcept;
	SharedCounters(const SharedCounters &) = delete;
	SharedCounters &operator=(const SharedCounters &) = delete;
	~SharedCounters();

	void add(std::size_t index);
	unsigned long get(std::size_t index) const;

private:
	unsigned long *counters_ = nullptr;
	std::size_t count_ = 0;
};

/*
 * How many measurements a generator began and how many it completed: the
 * kernel added a record for each completed one, and for none that was not
 * begun.
 */
struct GeneratorProgress {
	unsigned long begun = 0;
	unsigned long completed = 0;

	GeneratorProgress &operator+=(const GeneratorProgress &other);
};

/* A process creating measurements (create_measurement()) until stopped. */
class MeasurementGenerator {
public:
	MeasurementGenerator();

	void pause() { loop_.pause(); }
	void resume() { loop_.resume(); }

	/* Its progress so far, read while it runs. */
	GeneratorProgress progress() const;

	/* Stops the process and returns how many records it created. */
	unsigned long stop();

private:
	/* Before loop_: the child counts in it. */
	SharedCounters counters_;
	LoopingChild loop_;
};

} // namespace ima
