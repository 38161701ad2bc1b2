/* A worklist through the m4cxr C API: the pattern of `m4cxr batch`, in plain C.
 *
 *   m4cxr_worklist_c MODEL_DIR WORKLIST.tsv RESULTS.jsonl [THREADS] [MAX_NEW_TOKENS]
 *
 * WORKLIST.tsv: one item a line, tab-separated: ID, a task name of the task table
 * (docs/tasks.md), then its arguments as NAME=VALUE; a value starting with '@' is an image
 * file (read with m4cxr_image_from_file), any other is text:
 *
 *   s1<TAB>report<TAB>images=@front.png<TAB>images=@lateral.png
 *   s2<TAB>vqa<TAB>image=@cxr.png<TAB>question=Is there a pneumothorax?
 *
 * The pattern:
 *  - one model, loaded once (immutable: shared by every thread);
 *  - THREADS worker threads, each with its OWN session (a session is one thread at a
 *    time), reset before each item so that no item continues another's conversation;
 *  - each result is m4cxr_result_json() with "id" spliced in, written as ONE complete
 *    line by ONE write(2) on an O_APPEND file: kill -9 loses at most the items in
 *    flight, never leaves half a line;
 *  - resumable: ids already in RESULTS.jsonl are skipped (a partial last line of an
 *    older writer is cut off first); a failing item becomes {"id":..., "error":...}.
 * IDs are limited to letters, digits, '.', '_' and '-' (no JSON escaping needed to find
 * them); a line with another ID is reported on stderr and left out.
 */
#define _XOPEN_SOURCE 700 /* truncate, pthreads under -std=c99 */
#include <m4cxr/m4cxr.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FIELDS 32

typedef struct item {
  char* line;                /* the worklist line, split in place at the tabs */
  char* field[MAX_FIELDS];   /* ID, TASK, NAME=VALUE ... */
  int n;
} item;

typedef struct worklist {
  m4cxr_model* model;
  m4cxr_generation_options go;
  item* items;
  size_t count, next;        /* next: the first item no thread has taken */
  int out_fd;
  pthread_mutex_t lock;      /* guards next and the output */
} worklist;

/* Appends s to a JSON string body (quotes, backslashes and control bytes escaped). */
static void json_escape(char* out, size_t cap, const char* s) {
  size_t o = 0;
  for (; *s && o + 7 < cap; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
    else if (c < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    else out[o++] = (char)c;
  }
  out[o] = '\0';
}

/* The JSON document on one line: drops the blanks outside strings (inside a string a
 * newline is always escaped, so the result has none). In place. */
static void compact_json(char* s) {
  char* o = s;
  int in_string = 0;
  for (; *s; ++s) {
    if (in_string) {
      *o++ = *s;
      if (*s == '\\' && s[1]) *o++ = *++s;
      else if (*s == '"') in_string = 0;
    } else if (*s != ' ' && *s != '\n' && *s != '\r' && *s != '\t') {
      if (*s == '"') in_string = 1;
      *o++ = *s;
    }
  }
  *o = '\0';
}

static int valid_id(const char* id) {
  if (!*id) return 0;
  for (; *id; ++id)
    if (!(('a' <= *id && *id <= 'z') || ('A' <= *id && *id <= 'Z') || ('0' <= *id && *id <= '9') || *id == '.' ||
          *id == '_' || *id == '-'))
      return 0;
  return 1;
}

/* One complete line (text + '\n') by one write; the caller holds the lock. */
static void append_line(worklist* w, const char* text) {
  size_t n = strlen(text);
  char* buf = malloc(n + 1);
  size_t off = 0;
  if (!buf) return;
  memcpy(buf, text, n);
  buf[n] = '\n';
  while (off < n + 1) {
    ssize_t k = write(w->out_fd, buf + off, n + 1 - off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) { perror("write"); exit(1); }
    off += (size_t)k;
  }
  free(buf);
}

static void append_error(worklist* w, const char* id, const char* message) {
  char esc_id[512], esc[4096], line[5000];
  json_escape(esc_id, sizeof esc_id, id);
  json_escape(esc, sizeof esc, message);
  snprintf(line, sizeof line, "{\"id\":\"%s\",\"error\":\"%s\"}", esc_id, esc);
  pthread_mutex_lock(&w->lock);
  append_line(w, line);
  pthread_mutex_unlock(&w->lock);
}

/* Runs one item on the thread's session; writes its result or error line. */
static void run_item(worklist* w, m4cxr_session* session, const item* it) {
  m4cxr_task_args* args = NULL;
  m4cxr_image* images[MAX_FIELDS];
  size_t n_images = 0, i;
  m4cxr_task* task = NULL;
  m4cxr_result* result = NULL;
  char message[2048] = "";
  const char* id = it->field[0];

  if (it->n < 2) { append_error(w, id, "a line needs ID<TAB>TASK[<TAB>NAME=VALUE...]"); return; }
  if (m4cxr_task_args_create(&args) != M4CXR_OK) { append_error(w, id, m4cxr_last_error()); return; }
  for (i = 2; i < (size_t)it->n && !message[0]; ++i) {
    char* eq = strchr(it->field[i], '=');
    if (!eq) { snprintf(message, sizeof message, "argument '%s' is not NAME=VALUE", it->field[i]); break; }
    *eq = '\0'; /* the name ends here (the line is ours) */
    if (eq[1] == '@') {
      m4cxr_image* im = NULL;
      if (m4cxr_image_from_file(w->model, eq + 2, &im) != M4CXR_OK) {
        snprintf(message, sizeof message, "cannot read image '%s': %s", eq + 2, m4cxr_last_error());
      } else {
        images[n_images++] = im;
        if (m4cxr_task_args_add_image(args, it->field[i], im) != M4CXR_OK)
          snprintf(message, sizeof message, "%s", m4cxr_last_error());
      }
    } else if (m4cxr_task_args_add_text(args, it->field[i], eq + 1) != M4CXR_OK) {
      snprintf(message, sizeof message, "%s", m4cxr_last_error());
    }
    *eq = '=';
  }
  /* every item is its own study: a task that continues the conversation (chat) must not
   * continue the previous item's, so the session starts empty */
  if (!message[0] && m4cxr_session_reset(session) != M4CXR_OK) snprintf(message, sizeof message, "%s", m4cxr_last_error());
  if (!message[0] && m4cxr_task_start(session, it->field[1], args, &w->go, &task) != M4CXR_OK)
    snprintf(message, sizeof message, "%s", m4cxr_last_error());
  if (!message[0] && m4cxr_task_run(task, NULL, NULL) != M4CXR_OK)
    snprintf(message, sizeof message, "%s", m4cxr_last_error());
  if (!message[0] && m4cxr_task_result(task, &result) != M4CXR_OK)
    snprintf(message, sizeof message, "%s", m4cxr_last_error());
  if (message[0]) {
    append_error(w, id, message);
  } else {
    /* {"id":"ID", + the result document (on one line) after its opening brace */
    const char* doc = m4cxr_result_json(result);
    size_t len = strlen(doc) + strlen(id) + 16;
    char* line = malloc(len);
    if (line) {
      snprintf(line, len, "{\"id\":\"%s\",%s", id, doc + 1);
      compact_json(line);
      pthread_mutex_lock(&w->lock);
      append_line(w, line);
      pthread_mutex_unlock(&w->lock);
      free(line);
    }
  }
  m4cxr_result_free(result);
  m4cxr_task_free(task);
  m4cxr_task_args_free(args);
  for (i = 0; i < n_images; ++i) m4cxr_image_free(images[i]);
}

static void* worker(void* arg) {
  worklist* w = (worklist*)arg;
  m4cxr_session* session = NULL;
  if (m4cxr_session_create(w->model, &session) != M4CXR_OK) {
    fprintf(stderr, "creating a session: %s\n", m4cxr_last_error());
    return NULL;
  }
  for (;;) {
    size_t k;
    pthread_mutex_lock(&w->lock);
    k = w->next < w->count ? w->next++ : w->count;
    pthread_mutex_unlock(&w->lock);
    if (k == w->count) break;
    run_item(w, session, &w->items[k]);
  }
  m4cxr_session_free(session);
  return NULL;
}

/* Reads a whole file into a NUL-terminated buffer (NULL if it cannot be read). */
static char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  char* buf;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
  buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
  fclose(f);
  if (buf) { buf[n] = '\0'; *size = (size_t)n; }
  return buf;
}

/* Whether RESULTS already has a line of this id ("{"id":"ID",..."). */
static int done_before(const char* results, const char* id) {
  char prefix[600];
  const char* p = results;
  size_t n;
  snprintf(prefix, sizeof prefix, "{\"id\":\"%s\",", id);
  n = strlen(prefix);
  while (p && *p) {
    if (strncmp(p, prefix, n) == 0) return 1;
    p = strchr(p, '\n');
    if (p) ++p;
  }
  return 0;
}

int main(int argc, char** argv) {
  worklist w;
  char *text, *results, *line;
  size_t size = 0, results_size = 0, skipped = 0;
  int threads = argc > 4 ? atoi(argv[4]) : 2, t;
  pthread_t tid[64];
  m4cxr_model_options mo;

  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL_DIR WORKLIST.tsv RESULTS.jsonl [THREADS] [MAX_NEW_TOKENS]\n", argv[0]);
    return 2;
  }
  if (threads < 1 || threads > 64) { fprintf(stderr, "THREADS must be 1..64\n"); return 2; }
  memset(&w, 0, sizeof w);
  pthread_mutex_init(&w.lock, NULL);
  m4cxr_generation_options_default(&w.go);
  if (argc > 5) {
    w.go.max_new_tokens = atoi(argv[5]);
    if (w.go.max_new_tokens < 1) { fprintf(stderr, "MAX_NEW_TOKENS must be at least 1\n"); return 2; }
  }
  if (!(text = read_file(argv[2], &size))) { fprintf(stderr, "cannot read %s\n", argv[2]); return 3; }

  /* what is done already: cut a partial last line, then skip the ids found */
  results = read_file(argv[3], &results_size);
  if (results && results_size > 0 && results[results_size - 1] != '\n') {
    char* last = strrchr(results, '\n');
    size_t keep = last ? (size_t)(last - results) + 1 : 0;
    if (truncate(argv[3], (off_t)keep) != 0) { perror("truncate"); return 1; }
    results[keep] = '\0';
    fprintf(stderr, "dropped a partial last line of %s\n", argv[3]);
  }
  w.out_fd = open(argv[3], O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (w.out_fd < 0) { perror(argv[3]); return 3; }

  /* the items not done yet */
  w.items = calloc(size / 2 + 1, sizeof(item));
  for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    item it;
    char* p = line;
    memset(&it, 0, sizeof it);
    it.line = line;
    if (line[strlen(line) - 1] == '\r') line[strlen(line) - 1] = '\0';
    while (p && it.n < MAX_FIELDS) {
      char* tab = strchr(p, '\t');
      it.field[it.n++] = p;
      if (tab) *tab = '\0';
      p = tab ? tab + 1 : NULL;
    }
    if (!valid_id(it.field[0])) {
      fprintf(stderr, "left out: a line whose ID is not letters, digits, '.', '_' and '-': %.60s\n", line);
      continue;
    }
    if (results && done_before(results, it.field[0])) { ++skipped; continue; }
    w.items[w.count++] = it;
  }
  free(results);
  fprintf(stderr, "%zu item(s) to run, %zu already in %s\n", w.count, skipped, argv[3]);
  if (w.count == 0) return 0;

  m4cxr_model_options_default(&mo);
  mo.threads = 1; /* intra-op threads (process-wide); the items run side by side instead */
  if (m4cxr_model_load(argv[1], &mo, &w.model) != M4CXR_OK) {
    fprintf(stderr, "loading the model: %s\n", m4cxr_last_error());
    return 4;
  }
  for (t = 0; t < threads; ++t) pthread_create(&tid[t], NULL, worker, &w);
  for (t = 0; t < threads; ++t) pthread_join(tid[t], NULL);
  m4cxr_model_free(w.model);
  close(w.out_fd);
  free(w.items);
  free(text);
  return 0;
}
