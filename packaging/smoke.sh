#!/usr/bin/env bash
# Release check of a frozen build: packaging/smoke.sh BUILD_DIR [WORK_DIR]
#
# Runs the build's own `sdhd` and `sdhd-studio` as a user without any Python would: a clean
# environment (no PYTHONPATH, no virtualenv, PATH=/usr/bin:/bin, a fresh HOME) and Qt's
# offscreen platform plugin from the bundle. Checks, with the bundle's own ffmpeg:
#   - `sdhd --version` names the build's version and flavour;
#   - `sdhd backends`: Lanczos, Real-ESRGAN (ncnn, weights inside the bundle) and DIS usable;
#     in a lite build the torch backends say the build lacks torch, a full build imports its
#     torch to find the device;
#   - `sdhd demo` writes the sample in 720p with as many frames as the sample;
#   - `sdhd upscale --upscaler realesrgan --fps-multiplier 2` on a 6-frame cut: 12 frames
#     of 1280x720 (ncnn weights, PyAV decoding, DIS in-betweens, the ffmpeg writer);
#   - `sdhd-studio --screenshot` on that clip: a 1400x900 PNG, and the compute device found
#     by the editor's child process (multiprocessing's spawn inside a frozen app).
# Leaves its outputs in WORK_DIR (default: a new temporary folder) and prints it.
set -euo pipefail

BUILD=$(cd "${1:?usage: smoke.sh BUILD_DIR [WORK_DIR]}" && pwd)
WORK=${2:-$(mktemp -d -t sdhd-smoke.XXXXXX)}
mkdir -p "$WORK/home"
WORK=$(cd "$WORK" && pwd)
NAME=$(basename "$BUILD")              # sdhd-studio-FLAVOUR-VERSION
FLAVOUR=$(echo "$NAME" | cut -d- -f3)
VERSION=$(echo "$NAME" | cut -d- -f4-)
FFMPEG=$(ls "$BUILD"/_internal/imageio_ffmpeg/binaries/ffmpeg-*)
SAMPLE=$BUILD/_internal/sdhd_studio/resources/samples/bbb_sd.mp4

X=""                                   # the executables' suffix: .exe on Windows
KEEP=()                                # what Windows itself needs to start any program
case "$(uname -s)" in
    MINGW* | MSYS* | CYGWIN*)
        X=.exe
        KEEP=(SYSTEMROOT="${SYSTEMROOT:-}" WINDIR="${WINDIR:-}" TEMP="${TEMP:-}" TMP="${TMP:-}"
              USERPROFILE="$WORK/home" APPDATA="$WORK/home" LOCALAPPDATA="$WORK/home") ;;
esac

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
clean() {
    env -i HOME="$WORK/home" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
        ${KEEP[@]+"${KEEP[@]}"} "$@"
}
# "FRAMES WIDTHxHEIGHT" of a video's first video stream, decoded by the bundle's ffmpeg.
frames_and_size() {
    local log
    log=$("$FFMPEG" -hide_banner -nostdin -i "$1" -map 0:v:0 -f null - 2>&1) || fail "ffmpeg cannot read $1"
    echo "$(echo "$log" | grep -o 'frame= *[0-9]*' | tail -1 | tr -dc 0-9)" \
         "$(echo "$log" | grep -m1 -o 'Video: .*' | grep -o '[0-9]\{2,5\}x[0-9]\{2,5\}' | head -1)"
}
step() { echo "smoke: $*"; }

[ -f "$SAMPLE" ] || fail "no sample video in the bundle ($SAMPLE)"

step "sdhd --version"
out=$(clean "$BUILD/sdhd$X" --version)
[ "$out" = "sdhd $VERSION ($FLAVOUR build)" ] || fail "version says '$out'"

step "sdhd backends"
clean "$BUILD/sdhd$X" backends > "$WORK/backends.txt" || fail "sdhd backends failed"
for usable in "upscale +lanczos +ok" "upscale +realesrgan +ok" "interpolate +dis +ok"; do
    grep -Eq "^$usable" "$WORK/backends.txt" || fail "not usable: $usable ($WORK/backends.txt)"
done
if [ "$FLAVOUR" = full ]; then  # finding the device imports the bundled torch
    grep -E "^device: " "$WORK/backends.txt" | grep -qv "needs torch" \
        || fail "the full build found no torch: $(head -1 "$WORK/backends.txt")"
fi
if [ "$FLAVOUR" = lite ]; then
    for name in diffusion diffusion-refine diffusion-inpaint rife; do
        grep -E "^[a-z]+ +$name +unusable: .*needs torch.*lite build" "$WORK/backends.txt" \
            >/dev/null || fail "$name does not say the lite build lacks torch"
    done
fi

step "sdhd demo"
(cd "$WORK" && clean "$BUILD/sdhd$X" demo -o "$WORK/demo.mp4" > "$WORK/demo.log" 2>&1) \
    || fail "sdhd demo failed: $(tail -3 "$WORK/demo.log")"
read -r want _ <<< "$(frames_and_size "$SAMPLE")"
got=$(frames_and_size "$WORK/demo.mp4")
[ "$got" = "$want 1280x720" ] || fail "demo.mp4 is '$got', wanted '$want 1280x720'"

step "sdhd upscale (Real-ESRGAN on ncnn, DIS in-betweens)"
"$FFMPEG" -hide_banner -nostdin -loglevel error -y -i "$SAMPLE" -frames:v 6 -an \
    -c:v libx264 -pix_fmt yuv420p "$WORK/clip.mp4"
clean "$BUILD/sdhd$X" upscale "$WORK/clip.mp4" -o "$WORK/clip_hd.mp4" --upscaler realesrgan \
    --height 720 --fps-multiplier 2 > "$WORK/upscale.log" 2>&1 \
    || fail "sdhd upscale failed: $(tail -3 "$WORK/upscale.log")"
got=$(frames_and_size "$WORK/clip_hd.mp4")
[ "$got" = "12 1280x720" ] || fail "clip_hd.mp4 is '$got', wanted '12 1280x720'"

step "sdhd-studio --screenshot"
rm -rf "$WORK/clip.sdhd"  # the editor would ask whether to open an earlier run's project
clean "$BUILD/sdhd-studio$X" --screenshot "$WORK/editor.png" "$WORK/clip.mp4" \
    > "$WORK/editor.log" 2>&1 || fail "sdhd-studio failed: $(tail -3 "$WORK/editor.log")"
grep -q "compute CPU" "$WORK/editor.log" || fail "no compute device: $(cat "$WORK/editor.log")"
size=$(frames_and_size "$WORK/editor.png" | cut -d' ' -f2)
[ "$size" = 1400x900 ] || fail "editor.png is $size, wanted 1400x900"

echo "smoke: OK ($NAME; outputs in $WORK)"
