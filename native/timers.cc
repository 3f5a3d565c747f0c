// timers.cc: DeadlineWheel, a hashed timing wheel of intrusive lists of
// connection deadlines behind one coarse, repeating uv_timer per Server.
#include "timers.h"

namespace tsgi {

DeadlineWheel::DeadlineWheel() {
  for (DeadlineNode& head : buckets_) head.prev = head.next = &head;
}

void DeadlineWheel::Attach(uv_timer_t* timer, uv_timer_cb callback,
                           uint64_t tick_ms) {
  timer_ = timer;
  callback_ = callback;
  tick_ms_ = tick_ms != 0 ? tick_ms : 1;
  current_ = Now() / tick_ms_;
}

void DeadlineWheel::Detach() {
  if (timer_ != nullptr && running_) uv_timer_stop(timer_);
  running_ = false;
  timer_ = nullptr;
}

uint64_t DeadlineWheel::Now() const {
  return timer_ != nullptr ? uv_now(timer_->loop) : 0;
}

void DeadlineWheel::Set(DeadlineNode* node, uint64_t deadline) {
  node->deadline = deadline;
  if (deadline == kNoDeadline) return;  // dropped when its bucket comes up
  if (count_ == 0 && !running_) current_ = Now() / tick_ms_;
  // The first tick at or after the deadline, within one turn of the wheel.
  uint64_t tick = deadline / tick_ms_ + (deadline % tick_ms_ != 0 ? 1 : 0);
  if (tick <= current_) tick = current_ + 1;
  if (tick > current_ + kBuckets - 1) tick = current_ + kBuckets - 1;
  if (node->linked()) {
    if (node->due <= tick) return;  // visited in time, re-filed then
    Unlink(node);
  }
  Link(node, tick);
}

void DeadlineWheel::Remove(DeadlineNode* node) {
  node->deadline = kNoDeadline;
  if (node->linked()) Unlink(node);
}

void DeadlineWheel::Link(DeadlineNode* node, uint64_t tick) {
  DeadlineNode* head = &buckets_[tick & (kBuckets - 1)];
  node->due = tick;
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
  if (count_++ == 0 && timer_ != nullptr && !running_) {
    uv_timer_start(timer_, callback_, tick_ms_, tick_ms_);
    running_ = true;
  }
}

void DeadlineWheel::Unlink(DeadlineNode* node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  node->prev = node->next = nullptr;
  count_--;
}

void DeadlineWheel::Advance(uint64_t now, ExpireFn expire) {
  const uint64_t target = now / tick_ms_;
  // After a long stall one full turn visits every bucket once.
  uint64_t tick = current_;
  if (target > current_ + kBuckets) tick = target - kBuckets;
  while (tick < target) {
    current_ = ++tick;
    DeadlineNode* head = &buckets_[tick & (kBuckets - 1)];
    if (head->next == head) continue;
    // Move the bucket's list to `visiting`, so that nodes filed again
    // during this visit (into later ticks) are not seen twice. A node in
    // `visiting` is still linked: Remove() from a callback works on it.
    DeadlineNode visiting;
    visiting.next = head->next;
    visiting.prev = head->prev;
    visiting.next->prev = &visiting;
    visiting.prev->next = &visiting;
    head->next = head->prev = head;
    while (visiting.next != &visiting) {
      DeadlineNode* node = visiting.next;
      Unlink(node);
      if (node->deadline == kNoDeadline) continue;
      if (node->deadline <= now) {
        expire(node, now);
      } else {
        Set(node, node->deadline);
      }
    }
  }
  if (count_ == 0 && running_ && timer_ != nullptr) {
    uv_timer_stop(timer_);
    running_ = false;
  }
}

}  // namespace tsgi
