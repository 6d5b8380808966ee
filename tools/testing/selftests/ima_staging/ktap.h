/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small KTAP (Documentation/dev-tools/ktap.rst) test runner:
 *
 *	KTAP_TEST(name) { EXPECT_EQ(1 + 1, 2); ... }
 *	int main(int argc, char **argv) { return ktap::run(argc, argv); }
 *
 * Tests run in the order they are defined. EXPECT_* report a failure (file,
 * line, expression and values) and let the test go on; ASSERT_* also end the
 * test; ktap::skip() ends it as skipped. An exception escaping a test fails
 * that test only. A check that fails, or a skip, in a child forked with
 * ima::ChildProcess::fork_and_run ends that child with exit code 1. Command
 * line: -t NAME (repeatable) runs only the named tests, a name the program
 * does not have bails out; -l lists the tests. Exit codes follow kselftest:
 * 0 all passed, 1 a test failed, 4 all skipped, 2 bad usage.
 */
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ktap {

using TestFunction = void (*)();

class Registration {
public:
	Registration(const char *name, TestFunction function);
};

/* Prints @message as diagnostic lines ("# ..."), flushed line by line. */
void diag(std::string_view message);

/* The arguments printed one after another, as by an ostream. */
template <typename... Args> std::string str(const Args &...args)
{
	std::ostringstream out;

	(out << ... << args);
	return out.str();
}

template <typename... Args> void note(const Args &...args)
{
	diag(str(args...));
}

/*
 * Adds a line of context ("while checking the sha256 bank") to the failures
 * reported while the object lives.
 */
class ScopedContext {
public:
	explicit ScopedContext(std::string context);
	~ScopedContext();
	ScopedContext(const ScopedContext &) = delete;
	ScopedContext &operator=(const ScopedContext &) = delete;
};

/* Marks the running test failed and reports where and why; the test goes on. */
void fail_at(const char *file, int line, std::string_view message);

/* Thrown by ASSERT_* after the failure is reported: ends the running test. */
struct TestAborted {};

struct TestSkipped {
	std::string reason;
};

/* Ends the running test as skipped (as failed if it already failed). */
[[noreturn]] void skip(std::string reason);

/* Runs the selected tests, prints KTAP on stdout, returns the exit code. */
int run(int argc, char **argv);

namespace detail {

template <typename T>
concept Streamable = requires(std::ostream &out, const T &value) { out << value; };

/* How a value is shown in a failure report. */
template <typename T> std::string show(const T &value)
{
	if constexpr (std::is_same_v<T, bool>) {
		return value ? "true" : "false";
	} else if constexpr (std::is_same_v<T, std::vector<std::uint8_t>>) {
		static constexpr char digits[] = "0123456789abcdef";
		std::string hex;

		for (std::uint8_t byte : value) {
			hex.push_back(digits[byte >> 4]);
			hex.push_back(digits[byte & 0xf]);
		}
		return hex.empty() ? "(empty)" : hex;
	} else if constexpr (std::is_convertible_v<const T &, std::string_view>) {
		return "\"" + std::string(std::string_view(value)) + "\"";
	} else if constexpr (Streamable<T>) {
		return str(value);
	} else {
		return "(not printable)";
	}
}

void fail_comparison(const char *file, int line, const char *lhs, const char *op,
		     const char *rhs, const std::string &lhs_value, const std::string &rhs_value);

} // namespace detail
} // namespace ktap

#define KTAP_TEST(name)                                                              \
	static void name();                                                          \
	static const ktap::Registration ktap_registration_##name(#name, name);       \
	static void name()

#define KTAP_CHECK_(condition, text, on_failure)                                     \
	do {                                                                         \
		if (!(condition)) {                                                  \
			ktap::fail_at(__FILE__, __LINE__, text);                     \
			on_failure;                                                  \
		}                                                                    \
	} while (0)

#define KTAP_COMPARE_(a, op, b, on_failure)                                          \
	do {                                                                         \
		const auto &ktap_lhs_ = (a);                                         \
		const auto &ktap_rhs_ = (b);                                         \
		if (!(ktap_lhs_ op ktap_rhs_)) {                                     \
			ktap::detail::fail_comparison(__FILE__, __LINE__, #a, #op, #b, \
						      ktap::detail::show(ktap_lhs_),   \
						      ktap::detail::show(ktap_rhs_));  \
			on_failure;                                                  \
		}                                                                    \
	} while (0)

#define EXPECT_TRUE(expr) KTAP_CHECK_(static_cast<bool>(expr), "expected: " #expr, (void)0)
#define EXPECT_FALSE(expr) KTAP_CHECK_(!(expr), "expected false: " #expr, (void)0)
#define EXPECT_EQ(a, b) KTAP_COMPARE_(a, ==, b, (void)0)
#define EXPECT_NE(a, b) KTAP_COMPARE_(a, !=, b, (void)0)
#define EXPECT_LT(a, b) KTAP_COMPARE_(a, <, b, (void)0)
#define EXPECT_LE(a, b) KTAP_COMPARE_(a, <=, b, (void)0)
#define EXPECT_GT(a, b) KTAP_COMPARE_(a, >, b, (void)0)
#define EXPECT_GE(a, b) KTAP_COMPARE_(a, >=, b, (void)0)

#define ASSERT_TRUE(expr)                                                            \
	KTAP_CHECK_(static_cast<bool>(expr), "expected: " #expr, throw ktap::TestAborted())
#define ASSERT_FALSE(expr) KTAP_CHECK_(!(expr), "expected false: " #expr, throw ktap::TestAborted())
#define ASSERT_EQ(a, b) KTAP_COMPARE_(a, ==, b, throw ktap::TestAborted())
#define ASSERT_NE(a, b) KTAP_COMPARE_(a, !=, b, throw ktap::TestAborted())
#define ASSERT_LT(a, b) KTAP_COMPARE_(a, <, b, throw ktap::TestAborted())
#define ASSERT_LE(a, b) KTAP_COMPARE_(a, <=, b, throw ktap::TestAborted())
#define ASSERT_GT(a, b) KTAP_COMPARE_(a, >, b, throw ktap::TestAborted())
#define ASSERT_GE(a, b) KTAP_COMPARE_(a, >=, b, throw ktap::TestAborted())

/* Passes if @statement throws @exception_type. */
#define EXPECT_THROW(statement, exception_type)                                      \
	do {                                                                         \
		bool ktap_thrown_ = false;                                           \
		try {                                                                \
			statement;                                                   \
		} catch (const exception_type &) {                                   \
			ktap_thrown_ = true;                                         \
		}                                                                    \
		KTAP_CHECK_(ktap_thrown_, "expected " #statement " to throw " #exception_type, \
			    (void)0);                                                \
	} while (0)
