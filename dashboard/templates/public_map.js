/* The public knife-bin map. Data come from the JSON blocks above; text reaches the page only
   through textContent, never as HTML. No cookies, no storage, no requests but Leaflet and tiles. */
(function () {
  "use strict";

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function paragraph(className, text) {
    var element = document.createElement("p");
    element.className = className;
    element.textContent = text;
    return element;
  }

  /* The skip link focuses the list's heading itself: inside an embedding frame (srcdoc) a
     "#bin-list" address would resolve against the parent page and load it in the frame. */
  var skipLink = document.querySelector(".skip-link");
  var listHeading = document.getElementById("bin-list-heading");
  skipLink.addEventListener("click", function (event) {
    event.preventDefault();
    listHeading.focus();
  });

  var bins = readJson("bins-data");
  var config = readJson("map-config");
  var mapElement = document.getElementById("map");
  if (!bins.length || !mapElement || typeof L === "undefined") {
    return;
  }

  var map = L.map(mapElement, {
    scrollWheelZoom: false, // the page around the map keeps scrolling with the wheel
    attributionControl: Boolean(config.tilesUrl),
    zoomControl: false,
    zoomSnap: 0.5
  });
  // zoom buttons at the bottom: a popup opens above its bin and would slide under them at the top
  L.control.zoom({ position: "bottomright" }).addTo(map);
  if (config.tilesUrl) {
    map.attributionControl.setPrefix(false);
    L.tileLayer(config.tilesUrl, { attribution: config.tilesAttribution, maxZoom: 19 }).addTo(map);
  }
  L.control.scale({ imperial: false }).addTo(map);

  var opener = null; // the "Show on map" button that opened the popup, to return focus to

  function popupContent(bin) {
    var box = document.createElement("div");
    box.className = "bin-popup";
    box.tabIndex = -1;
    box.appendChild(paragraph("popup-name", bin.name));
    box.appendChild(paragraph("popup-address", bin.address));
    // what to do at a bin is in the list; the popup stays small enough for a phone's map
    var guidance = document.createElement("a");
    guidance.href = config.guidanceUrl;
    guidance.textContent = "How to hand in a knife safely";
    box.appendChild(guidance);
    box.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        map.closePopup();
      }
    });
    return box;
  }

  var markers = bins.map(function (bin) {
    var marker = L.marker([bin.latitude, bin.longitude], {
      icon: L.divIcon({
        className: "knife-bin-marker",
        iconSize: [24, 24],
        iconAnchor: [12, 12],
        popupAnchor: [0, -14] // the popup's tip points at the marker, not over it
      }),
      title: bin.name, // the marker is a keyboard-focusable button named by its title
      keyboard: true,
      riseOnHover: true
    });
    marker.bindPopup(popupContent(bin), {
      maxWidth: Math.max(160, Math.min(260, mapElement.clientWidth - 72)), // fits a 320 px screen
      autoPanPadding: [12, 12]
    });
    return marker.addTo(map);
  });

  map.fitBounds(
    L.latLngBounds(markers.map(function (marker) { return marker.getLatLng(); })),
    // room for the scale (bottom left) and zoom buttons (bottom right), so no bin hides under them
    { paddingTopLeft: [40, 40], paddingBottomRight: [72, 96], maxZoom: 15 }
  );

  map.on("popupclose", function () {
    if (opener) {
      var button = opener;
      opener = null;
      button.focus();
    }
  });

  Array.prototype.forEach.call(document.querySelectorAll(".show-on-map"), function (button) {
    button.addEventListener("click", function () {
      var marker = markers[Number(button.getAttribute("data-bin-index"))];
      opener = null; // closing another bin's popup must not move focus back
      map.setView(marker.getLatLng(), Math.max(map.getZoom(), 16), { animate: false });
      marker.openPopup();
      opener = button;
      mapElement.scrollIntoView({ block: "nearest" });
      marker.getPopup().getElement().querySelector(".bin-popup").focus({ preventScroll: true });
    });
  });
})();
