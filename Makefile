# mlfs - build, test, bench.
#
#   make            build/mlfs (the command, with the daemon linked in)
#   make unit       build the unit tests
#   make test       every test tier (unit, CLI golden, mount) on this build;
#                   scripts/test.sh (the README's command) adds deps and the
#                   ASan+UBSan pass
#   make SAN=1      the sanitizer build, in build-asan/
#   make bench      the benchmark table (issue 4)
#   make soak       the long reliability runs (issue 5)
#
# Dependencies come from Debian's packages; scripts/deps.sh installs them.

PKGS     := fuse3 lmdb libzstd libxxhash
CC       ?= cc
ifeq ($(SAN),1)
BUILD    ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1
else
BUILD    ?= build
SANFLAGS :=
OPT      := -O2
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   += -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter \
	    -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=314 \
	    -Istore -Ifs $(PKG_CFLAGS) $(SANFLAGS)
LDFLAGS  += $(SANFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread

STORE_SRC := $(wildcard store/*.c)
FS_SRC    := $(wildcard fs/*.c)
TOOL_SRC  := $(wildcard tools/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
HELPER_SRC := $(wildcard tests/mount/*.c)

STORE_OBJ := $(STORE_SRC:%.c=$(BUILD)/%.o)
FS_OBJ    := $(FS_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_BIN := $(HELPER_SRC:tests/mount/%.c=$(BUILD)/tests/%)
PRELOAD_SRC := $(wildcard tests/mount/preload/*.c)
PRELOAD_LIB := $(PRELOAD_SRC:tests/mount/preload/%.c=$(BUILD)/tests/%.so)

.PHONY: all unit helpers test bench soak clean format
all: $(BUILD)/mlfs

$(BUILD)/%.o: %.c $(wildcard store/*.h fs/*.h tools/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libmlfs.a: $(STORE_OBJ)
	ar rcs $@ $^

$(BUILD)/libmlfsfs.a: $(FS_OBJ)
	ar rcs $@ $^

$(BUILD)/mlfs: $(TOOL_OBJ) $(BUILD)/libmlfsfs.a $(BUILD)/libmlfs.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libmlfsfs.a $(BUILD)/libmlfs.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/t.h tests/unit/store_fixture.h $(BUILD)/libmlfs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libmlfs.a $(LDLIBS)

$(BUILD)/tests/%: tests/mount/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Libraries a mount test preloads into the daemon: never with the sanitizers,
# so that the same library goes into either build's daemon.
$(BUILD)/tests/%.so: tests/mount/preload/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -DFUSE_USE_VERSION=314 \
		$(PKG_CFLAGS) -fPIC -shared -o $@ $< -ldl

unit: $(UNIT_BIN)

helpers: $(HELPER_BIN) $(PRELOAD_LIB)

test: all unit $(HELPER_BIN) $(PRELOAD_LIB)
	scripts/run-tests.sh

bench: all
	scripts/bench.sh

soak: all
	scripts/soak.sh

format:
	clang-format -i store/*.[ch] fs/*.[ch] tools/*.[ch] tests/unit/*.[ch] tests/mount/*.c tests/mount/preload/*.c

clean:
	rm -rf build build-asan
