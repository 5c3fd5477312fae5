# Sourced by bench scripts that run catdogd on a small slice of the photos.
#
#   bench_photos DATA_ROOT PER_CLASS IMAGES   (needs $data and $build)
#
# Makes DATA_ROOT/pets with PER_CLASS training photos per class (copies from
# $data/train: catdogd refuses links that lead out of its data root; or
# synthetic images when the photos are absent) and sets the
# array `images` to IMAGES files to classify (test photos, else synthetic).
bench_photos() {
  local root="$1" per_class="$2" count="$3" cls f files
  mkdir -p "$root"
  if [[ -d "$data/train" ]]; then
    for cls in cat dog; do
      mkdir -p "$root/pets/$cls"
      mapfile -t files < <(find "$data/train/$cls" -type f | sort -V)
      cp "${files[@]:0:$per_class}" "$root/pets/$cls/"
    done
    mapfile -t images < <(find "$data/test" -type f | sort -V | head -"$count")
  else
    "$build/tests/catdog-make-dataset" "$root/pets" "$per_class" 64 >/dev/null
    mapfile -t images < <(find "$root/pets" -type f | sort -V | head -"$count")
  fi
}
