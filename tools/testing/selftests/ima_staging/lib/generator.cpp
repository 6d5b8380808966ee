// SPDX-License-Identifier: GPL-2.0
#include "lib/generator.h"

#include <atomic>
#include <csignal>
#include <cstdint>
#include <poll.h>
#include <stdexcept>
#include <sys/mman.h>
#include <utility>

#include "ima/ima_fs.h"

namespace ima {

/* Whether the parent wrote the stop byte to @fd. */
static bool stop_requested(int fd)
{
	pollfd entry = {fd, POLLIN, 0};

	return ::poll(&entry, 1, 0) > 0;
}

static void send_report(int fd, const std::string &text)
{
	Bytes message;

	append_le32(message, static_cast<std::uint32_t>(text.size()));
	append(message, as_bytes(text));
	write_all(fd, message);
}

LoopingChild::LoopingChild(const std::function<void()> &step,
			   const std::function<std::string()> &report)
{
	Pipe result;

	child_.emplace(ChildProcess::fork_and_run([&]() {
		stop_.write_end.reset();
		result.read_end.reset();
		while (!stop_requested(stop_.read_end.get()))
			step();
		send_report(result.write_end.get(), report());
		return 0;
	}));
	report_ = std::move(result.read_end);
}

void LoopingChild::pause()
{
	::kill(child_->pid(), SIGSTOP);
}

void LoopingChild::resume()
{
	::kill(child_->pid(), SIGCONT);
}

std::string LoopingChild::stop()
{
	const std::uint8_t byte = 1;
	std::string text;

	resume();
	write_all(stop_.write_end.get(), ByteView(&byte, 1));
	try {
		std::uint32_t size = load_le32(read_exact(report_.get(), 4), 0);
		Bytes bytes = read_exact(report_.get(), size);
		text.assign(bytes.begin(), bytes.end());
	} catch (const std::exception &e) {
		int status = child_->wait();
		throw std::runtime_error("child process exited with " + std::to_string(status) +
					 " without a report: " + e.what());
	}
	if (int status = child_->wait(); status != 0)
		throw std::runtime_error("child process exited with " + std::to_string(status));
	return text;
}

SharedCounters::SharedCounters(std::size_t count) : count_(count)
{
	void *memory = ::mmap(nullptr, count * sizeof(unsigned long), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (memory == MAP_FAILED)
		throw_errno("mmap of shared counters");
	counters_ = static_cast<unsigned long *>(memory);
}

SharedCounters::SharedCounters(SharedCounters &&other) noexcept
	: counters_(std::exchange(other.counters_, nullptr)), count_(std::exchange(other.count_, 0))
{
}

SharedCounters &SharedCounters::operator=(SharedCounters &&other) noexcept
{
	if (this != &other) {
		if (counters_)
			::munmap(counters_, count_ * sizeof(unsigned long));
		counters_ = std::exchange(other.counters_, nullptr);
		count_ = std::exchange(other.count_, 0);
	}
	return *this;
}

SharedCounters::~SharedCounters()
{
	if (counters_)
		::munmap(counters_, count_ * sizeof(unsigned long));
}

void SharedCounters::add(std::size_t index)
{
	std::atomic_ref<unsigned long>(counters_[index]).fetch_add(1);
}

unsigned long SharedCounters::get(std::size_t index) const
{
	return std::atomic_ref<unsigned long>(counters_[index]).load();
}

GeneratorProgress &GeneratorProgress::operator+=(const GeneratorProgress &other)
{
	begun += other.begun;
	completed += other.completed;
	return *this;
}

enum GeneratorCounter : std::size_t { kBegun, kCompleted, kGeneratorCounters };

/* The counter lives in the child, on the stack of this call. */
static LoopingChild start_generator(SharedCounters &counters)
{
	unsigned long created = 0;

	return LoopingChild(
		[&created, &counters]() {
			counters.add(kBegun);
			create_measurement();
			counters.add(kCompleted);
			created++;
		},
		[&created]() { return std::to_string(created); });
}

MeasurementGenerator::MeasurementGenerator()
	: counters_(kGeneratorCounters), loop_(start_generator(counters_))
{
}

GeneratorProgress MeasurementGenerator::progress() const
{
	/* completed first: a measurement completed then is begun then too */
	unsigned long completed = counters_.get(kCompleted);

	return {counters_.get(kBegun), completed};
}

unsigned long MeasurementGenerator::stop()
{
	return std::stoul(loop_.stop());
}

} // namespace ima
