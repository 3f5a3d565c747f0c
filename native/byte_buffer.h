// byte_buffer.h: ByteBuffer, a growable byte array, and BufferPool, where
// buffers put their blocks while their connection is idle. A busy
// connection takes a block from its Server's pool and gives it back when
// its bytes are written: memory per loop and per busy connection, none per
// idle connection, and no allocation per request once the pool is warm.
#ifndef TSGI_BYTE_BUFFER_H_
#define TSGI_BYTE_BUFFER_H_

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace tsgi {

// Blocks of idle buffers, for reuse by busy ones. One per Server, used on
// its loop thread only. Owns the blocks it holds until Take() hands one
// out or the destructor frees them.
class BufferPool {
 public:
  // Blocks above kMaxBlock go back to the allocator (one huge response must
  // not pin memory); at most kMaxBlocks are kept.
  static constexpr size_t kMaxBlock = 64 * 1024;
  static constexpr size_t kMaxBlocks = 256;

  BufferPool() = default;
  ~BufferPool() {
    for (const Block& b : blocks_) std::free(b.data);
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // Hands out the most recently returned block (warm in the cache), if any.
  bool Take(char** data, size_t* capacity) {
    if (blocks_.empty()) return false;
    *data = blocks_.back().data;
    *capacity = blocks_.back().capacity;
    blocks_.pop_back();
    return true;
  }
  // Takes ownership of `data`.
  void Put(char* data, size_t capacity) {
    if (capacity > kMaxBlock || blocks_.size() >= kMaxBlocks) {
      std::free(data);
      return;
    }
    if (blocks_.capacity() == 0) blocks_.reserve(64);
    blocks_.push_back(Block{data, capacity});
  }

 private:
  struct Block {
    char* data;
    size_t capacity;
  };
  std::vector<Block> blocks_;
};

// Owns at most one malloc'd block: from the Reserve() that allocates it or
// takes it from the pool, until ReturnBlock() gives it back (or the
// destructor frees it). Pointers returned by data()/Reserve() stay valid
// until the next call that may grow, consume, prepend, swap or return it.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ~ByteBuffer() { std::free(data_); }

  // Where this buffer takes its block from and gives it back to (nullptr:
  // the allocator only). The pool must outlive the buffer's use of it.
  void set_pool(BufferPool* pool) { pool_ = pool; }

  // Gives the block to the pool (or the allocator) when the buffer is
  // empty: an idle connection then holds no memory here.
  void ReturnBlock() {
    if (size_ != 0 || data_ == nullptr) return;
    if (pool_ != nullptr) {
      pool_->Put(data_, capacity_);
    } else {
      std::free(data_);
    }
    data_ = nullptr;
    capacity_ = 0;
  }
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }

  // Makes room for `n` more bytes and returns where they go, or nullptr when
  // memory is exhausted (the buffer is then unchanged).
  char* Reserve(size_t n) {
    if (capacity_ - size_ < n && !Grow(n)) return nullptr;
    return data_ + size_;
  }
  // Marks `n` bytes written after Reserve(>= n) as part of the contents.
  void Commit(size_t n) { size_ += n; }

  bool Append(const void* src, size_t n) {
    char* dst = Reserve(n);
    if (dst == nullptr) return false;
    if (n != 0) std::memcpy(dst, src, n);
    size_ += n;
    return true;
  }
  bool Append(char c) { return Append(&c, 1); }

  bool Prepend(const void* src, size_t n) {
    if (Reserve(n) == nullptr) return false;
    std::memmove(data_ + n, data_, size_);
    std::memcpy(data_, src, n);
    size_ += n;
    return true;
  }

  // Drops the first `n` bytes (n <= size()).
  void Consume(size_t n) {
    if (n >= size_) {
      size_ = 0;
      return;
    }
    std::memmove(data_, data_ + n, size_ - n);
    size_ -= n;
  }

  void Clear() { size_ = 0; }
  void Truncate(size_t n) {
    if (n < size_) size_ = n;
  }

  // Swaps contents and blocks; each buffer keeps its own pool.
  void Swap(ByteBuffer& other) {
    char* d = data_;
    size_t s = size_, c = capacity_;
    data_ = other.data_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.data_ = d;
    other.size_ = s;
    other.capacity_ = c;
  }

 private:
  bool Grow(size_t n) {
    size_t want = size_ + n;
    if (want < size_) return false;  // overflow
    if (data_ == nullptr && pool_ != nullptr &&
        pool_->Take(&data_, &capacity_) && capacity_ >= want) {
      return true;
    }
    size_t cap = capacity_ != 0 ? capacity_ : 512;
    while (cap < want) {
      if (cap > (static_cast<size_t>(-1) >> 1)) return false;
      cap *= 2;
    }
    void* p = std::realloc(data_, cap);
    if (p == nullptr) return false;
    data_ = static_cast<char*>(p);
    capacity_ = cap;
    return true;
  }

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  BufferPool* pool_ = nullptr;
};

}  // namespace tsgi

#endif  // TSGI_BYTE_BUFFER_H_
