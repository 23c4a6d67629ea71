#include "util/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::util {

namespace {
EVP_MD_CTX* ctx_of(void* p) { return static_cast<EVP_MD_CTX*>(p); }
}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_of(ctx_), EVP_sha256(), nullptr) != 1)
    throw Error(Exit::failure, "sha256: cannot initialise OpenSSL digest");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_of(ctx_)); }

void Sha256::update(const void* data, std::size_t n) {
  if (n && EVP_DigestUpdate(ctx_of(ctx_), data, n) != 1) throw Error(Exit::failure, "sha256: digest update failed");
}

std::string Sha256::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_of(ctx_), md, &len) != 1 || len != 32)
    throw Error(Exit::failure, "sha256: digest final failed");
  static const char* digits = "0123456789abcdef";
  std::string out(64, '0');
  for (unsigned i = 0; i < 32; ++i) {
    out[2 * i] = digits[md[i] >> 4];
    out[2 * i + 1] = digits[md[i] & 15];
  }
  return out;
}

std::string sha256_file(const std::filesystem::path& path, std::uint64_t* size_out) {
  Fd fd = open_read(path);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  StreamResult r = sha256_stream(fd, path);
  if (size_out) *size_out = r.size;
  return r.sha256;
}

namespace {

/// Reads until `n` bytes or end of file.
std::size_t read_full(const Fd& fd, char* buf, std::size_t n, const std::filesystem::path& p) {
  std::size_t got = 0;
  while (got < n) {
    std::size_t r = read_some(fd, buf + got, n - got, p);
    if (r == 0) break;
    got += r;
  }
  return got;
}

constexpr std::uint64_t kWritebackWindow = 64ull << 20;

/// Writes a chunk; asks the kernel to start writing back each completed 64 MiB window.
void write_chunk(const Fd& out, const char* buf, std::size_t n, const std::filesystem::path& op, std::uint64_t& written,
                 std::uint64_t& flushed) {
  write_all(out, buf, n, op);
  written += n;
  if (written - flushed >= kWritebackWindow) {
    ::sync_file_range(out.get(), static_cast<off64_t>(flushed), static_cast<off64_t>(written - flushed),
                      SYNC_FILE_RANGE_WRITE);  // advisory: errors (e.g. on a pipe) are ignored
    flushed = written;
  }
}

}  // namespace

StreamResult sha256_stream(const Fd& in, const std::filesystem::path& ip, const Fd* out,
                           const std::filesystem::path& op, const std::function<void(std::uint64_t)>& progress) {
  Sha256 h;
  StreamResult res;
  std::uint64_t written = 0, flushed = 0;
  struct stat st {};
  if (::fstat(in.get(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) <= kStreamChunk) {
    // Small file: one thread.
    std::vector<char> buf(kIoBufferSize);
    for (;;) {
      std::size_t n = read_some(in, buf.data(), buf.size(), ip);
      if (n == 0) break;
      h.update(buf.data(), n);
      if (out) write_chunk(*out, buf.data(), n, op, written, flushed);
      res.size += n;
      if (progress) progress(res.size);
    }
    res.sha256 = h.hex_digest();
    return res;
  }

  // Double buffering: the I/O thread reads chunk k (and writes it) while this thread hashes
  // chunk k-1. A slot is reused only after it was hashed (produced - consumed < kStreamChunks)
  // and written (the I/O thread writes it before reading the next one).
  std::vector<std::vector<char>> slots(kStreamChunks, std::vector<char>(kStreamChunk));
  std::vector<std::size_t> lens(kStreamChunks, 0);
  std::mutex m;
  std::condition_variable cv;
  std::uint64_t produced = 0, consumed = 0;
  bool eof = false, abort = false;
  std::exception_ptr io_error;

  std::thread io([&] {
    try {
      for (std::uint64_t k = 0;; ++k) {
        {
          std::unique_lock lk(m);
          cv.wait(lk, [&] { return abort || produced - consumed < kStreamChunks; });
          if (abort) return;
        }
        std::size_t slot = k % kStreamChunks;
        std::size_t n = read_full(in, slots[slot].data(), kStreamChunk, ip);
        if (n == 0) break;
        lens[slot] = n;
        {
          std::lock_guard lk(m);
          ++produced;
        }
        cv.notify_all();
        if (out) write_chunk(*out, slots[slot].data(), n, op, written, flushed);
      }
    } catch (...) {
      std::lock_guard lk(m);
      io_error = std::current_exception();
    }
    {
      std::lock_guard lk(m);
      eof = true;
    }
    cv.notify_all();
  });

  std::exception_ptr hash_error;
  try {
    for (;;) {
      std::size_t slot = 0, n = 0;
      {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return produced > consumed || eof; });
        if (produced == consumed) break;  // eof (or an I/O error) and everything hashed
        slot = consumed % kStreamChunks;
        n = lens[slot];
      }
      h.update(slots[slot].data(), n);
      res.size += n;
      {
        std::lock_guard lk(m);
        ++consumed;
      }
      cv.notify_all();
      if (progress) progress(res.size);
    }
  } catch (...) {
    hash_error = std::current_exception();
    {
      std::lock_guard lk(m);
      abort = true;
    }
    cv.notify_all();
  }
  io.join();
  if (hash_error) std::rethrow_exception(hash_error);
  if (io_error) std::rethrow_exception(io_error);
  res.sha256 = h.hex_digest();
  return res;
}

StreamResult sha256_read(const Fd& in, const std::filesystem::path& p,
                         const std::function<void(std::uint64_t)>& progress) {
  Sha256 h;
  StreamResult res;
  std::vector<char> buf(kIoBufferSize);
  for (;;) {
    ssize_t r = ::pread(in.get(), buf.data(), buf.size(), static_cast<off_t>(res.size));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(Exit::failure, errno_message(p, "read failed"));
    }
    if (r == 0) break;
    h.update(buf.data(), static_cast<std::size_t>(r));
    res.size += static_cast<std::uint64_t>(r);
    if (progress) progress(res.size);
  }
  res.sha256 = h.hex_digest();
  return res;
}

StreamResult copy_and_hash(const Fd& in, const std::filesystem::path& ip, const Fd& out,
                           const std::filesystem::path& op, const std::function<void(std::uint64_t)>& progress,
                           bool sync_out) {
  std::mutex m;
  std::condition_variable cv;
  std::uint64_t copied = 0;
  bool done = false, unsupported = false;
  std::exception_ptr copy_error;
  std::thread copier([&] {
    try {
      for (;;) {
        ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, kCopyChunk, 0);
        if (n < 0) {
          const int err = errno;
          if (err == EINTR) continue;
          bool first = false;
          {
            std::lock_guard lk(m);
            first = copied == 0;
          }
          if (first && (err == EXDEV || err == ENOSYS || err == EINVAL || err == EOPNOTSUPP)) {
            std::lock_guard lk(m);
            unsupported = true;
            break;
          }
          errno = err;
          throw Error(Exit::failure, errno_message(op, "write failed"));
        }
        if (n == 0) break;
        std::uint64_t start = 0;
        {
          std::lock_guard lk(m);
          start = copied;
          copied += static_cast<std::uint64_t>(n);
        }
        cv.notify_all();
        // Start writing this chunk back now (advisory), so the caller's fsync is short.
        ::sync_file_range(out.get(), static_cast<off64_t>(start), n, SYNC_FILE_RANGE_WRITE);
      }
      bool copied_all = false;
      {
        std::lock_guard lk(m);
        copied_all = !unsupported;
      }
      if (sync_out && copied_all) fsync_fd(out, op);  // while the hash catches up
    } catch (...) {
      std::lock_guard lk(m);
      copy_error = std::current_exception();
    }
    {
      std::lock_guard lk(m);
      done = true;
    }
    cv.notify_all();
  });

  Sha256 h;
  std::uint64_t hashed = 0;
  try {
    std::vector<char> buf(kStreamChunk);
    for (;;) {
      std::uint64_t avail = 0;
      {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return done || copied > hashed; });
        if (unsupported || copy_error) break;
        avail = copied;
        if (avail == hashed && done) break;
      }
      while (hashed < avail) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), avail - hashed));
        ssize_t r = ::pread(out.get(), buf.data(), want, static_cast<off_t>(hashed));
        if (r < 0) {
          if (errno == EINTR) continue;
          throw Error(Exit::failure, errno_message(op, "read failed"));
        }
        if (r == 0) throw Error(Exit::failure, op.string() + ": ends before the bytes copied into it");
        h.update(buf.data(), static_cast<std::size_t>(r));
        hashed += static_cast<std::uint64_t>(r);
        if (progress) progress(hashed);
      }
    }
  } catch (...) {
    copier.join();  // bounded: the copy ends at the end of `in`
    throw;
  }
  copier.join();
  if (copy_error) std::rethrow_exception(copy_error);
  if (unsupported) return sha256_stream(in, ip, &out, op, progress);
  StreamResult res;
  res.sha256 = h.hex_digest();
  res.size = hashed;
  return res;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace mvc::util
