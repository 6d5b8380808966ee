// SPDX-License-Identifier: GPL-2.0
#include "ktap.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <set>
#include <unistd.h>

#include "ima/sys.h"

namespace ktap {

/* kselftest exit codes (kselftest.h). */
static constexpr int kExitPass = 0;
static constexpr int kExitFail = 1;
static constexpr int kExitUsage = 2;
static constexpr int kExitSkip = 4;

namespace {

struct TestCase {
	std::string name;
	TestFunction function;
};

/* Function-local statics: registration happens during static initialization. */
std::vector<TestCase> &registry()
{
	static std::vector<TestCase> tests;
	return tests;
}

std::vector<std::string> &context_stack()
{
	static std::vector<std::string> contexts;
	return contexts;
}

bool current_test_failed;

enum class Outcome { pass, fail, skip };

} // namespace

Registration::Registration(const char *name, TestFunction function)
{
	registry().push_back({name, function});
}

static void print_line(const std::string &line)
{
	std::fputs(line.c_str(), stdout);
	std::fputc('\n', stdout);
	std::fflush(stdout);
}

void diag(std::string_view message)
{
	for (;;) {
		std::size_t newline = message.find('\n');

		print_line("# " + std::string(message.substr(0, newline)));
		if (newline == std::string_view::npos || newline + 1 == message.size())
			return;
		message.remove_prefix(newline + 1);
	}
}

ScopedContext::ScopedContext(std::string context)
{
	context_stack().push_back(std::move(context));
}

ScopedContext::~ScopedContext()
{
	context_stack().pop_back();
}

void fail_at(const char *file, int line, std::string_view message)
{
	current_test_failed = true;
	diag(str(file, ":", line, ": ", message));
	for (auto context = context_stack().rbegin(); context != context_stack().rend(); ++context)
		diag("  while " + *context);
}

/* "  expr = value", or nothing when the expression is its value (a literal). */
static std::string value_line(const char *expression, const std::string &value)
{
	return value == expression ? "" : str("\n  ", expression, " = ", value);
}

void detail::fail_comparison(const char *file, int line, const char *lhs, const char *op,
			     const char *rhs, const std::string &lhs_value,
			     const std::string &rhs_value)
{
	fail_at(file, line,
		str("expected: ", lhs, " ", op, " ", rhs, value_line(lhs, lhs_value),
		    value_line(rhs, rhs_value)));
}

void skip(std::string reason)
{
	throw TestSkipped{std::move(reason)};
}

static Outcome run_test(const TestCase &test, std::string &skip_reason)
{
	current_test_failed = false;
	context_stack().clear();
	try {
		test.function();
	} catch (const TestAborted &) {
	} catch (const TestSkipped &skipped) {
		if (!current_test_failed) {
			skip_reason = skipped.reason;
			return Outcome::skip;
		}
		diag("skip after a failure: " + skipped.reason);
	} catch (const std::exception &e) {
		current_test_failed = true;
		diag(test.name + ": unexpected exception: " + e.what());
	} catch (...) {
		current_test_failed = true;
		diag(test.name + ": unexpected exception of unknown type");
	}
	return current_test_failed ? Outcome::fail : Outcome::pass;
}

/*
 * A forked child of a test inherits its checks: a failed EXPECT_* or ASSERT_*
 * or a skip in the child ends the child with a failure (kExitFail), which the
 * test sees in the exit code it waits for. Without this, an ASSERT_* would
 * unwind the child into the parent's test code.
 */
static int run_child_body(const std::function<int()> &body)
{
	int code;

	current_test_failed = false;
	try {
		code = body();
	} catch (const TestAborted &) {
		code = kExitFail;
	} catch (const TestSkipped &skipped) {
		diag("a skip in a child process fails it: " + skipped.reason);
		code = kExitFail;
	}
	if (current_test_failed && code == kExitPass)
		code = kExitFail;
	return code;
}

[[maybe_unused]] static const bool child_body_runner_installed = [] {
	ima::set_child_body_runner(run_child_body);
	return true;
}();

static void print_usage(const char *program)
{
	std::fprintf(stderr, "usage: %s [-t TEST]... [-l]\n"
			     "  -t TEST  run TEST only (repeatable)\n"
			     "  -l       list the tests\n", program);
}

/* The tests named with -t, in definition order; all if none was named. */
static std::vector<TestCase> select_tests(const std::set<std::string> &names)
{
	std::vector<TestCase> selected;

	for (const TestCase &test : registry())
		if (names.empty() || names.count(test.name))
			selected.push_back(test);
	return selected;
}

/* The names given with -t that no test of this program has. */
static std::vector<std::string> unknown_tests(const std::set<std::string> &names)
{
	std::vector<std::string> unknown;

	for (const std::string &name : names) {
		bool known = false;

		for (const TestCase &test : registry())
			known = known || test.name == name;
		if (!known)
			unknown.push_back(name);
	}
	return unknown;
}

int run(int argc, char **argv)
{
	std::set<std::string> names;
	int option;

	while ((option = ::getopt(argc, argv, "t:lh")) != -1) {
		switch (option) {
		case 't':
			names.insert(optarg);
			break;
		case 'l':
			for (const TestCase &test : registry())
				print_line(test.name);
			return kExitPass;
		default:
			print_usage(argv[0]);
			return option == 'h' ? kExitPass : kExitUsage;
		}
	}
	if (optind != argc) {
		print_usage(argv[0]);
		return kExitUsage;
	}

	print_line("KTAP version 1");
	/* A stale name must not quietly turn a run into fewer tests. */
	std::vector<std::string> unknown = unknown_tests(names);
	if (!unknown.empty()) {
		print_line("Bail out! no test named " + unknown.front() + " (-l lists them)");
		return kExitFail;
	}

	std::vector<TestCase> selected = select_tests(names);
	print_line("1.." + std::to_string(selected.size()));

	unsigned passed = 0, failed = 0, skipped = 0;
	for (std::size_t i = 0; i < selected.size(); i++) {
		std::string number = std::to_string(i + 1);
		std::string skip_reason;
		auto start = std::chrono::steady_clock::now();
		Outcome outcome = run_test(selected[i], skip_reason);
		auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::steady_clock::now() - start);

		/* Where a suite's time goes. */
		print_line(str("# ", selected[i].name, " took ", took.count(), " ms"));
		switch (outcome) {
		case Outcome::pass:
			passed++;
			print_line("ok " + number + " " + selected[i].name);
			break;
		case Outcome::fail:
			failed++;
			print_line("not ok " + number + " " + selected[i].name);
			break;
		case Outcome::skip:
			skipped++;
			print_line("ok " + number + " " + selected[i].name + " # SKIP " +
				   skip_reason);
			break;
		}
	}
	print_line(str("# Totals: pass:", passed, " fail:", failed, " xfail:0 xpass:0 skip:",
		       skipped, " error:0"));

	if (failed)
		return kExitFail;
	if (skipped && !passed)
		return kExitSkip;
	return kExitPass;
}

} // namespace ktap
